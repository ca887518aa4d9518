"""LangChain's own standard retriever tests (langchain-tests), run on NewsragRetriever over
small indexes of our own: the seed page in memory with the fake embedder (fast), and in
embedded Chroma with EmbeddingGemma (slow, the product's components).

Every test of ``RetrieversIntegrationTests`` applies and runs; none is skipped. The number
of results is our ``top_k`` (``num_results_arg_name``), as documented by the base class.
"""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from ingest.pipeline import ingest_paths
from rag.archive import Archive, open_archive
from rag.embedding import FakeEmbedder, make_embedder
from rag.keyword import KeywordIndex
from rag.lc_retriever import NewsragRetriever
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import InMemoryStore

from .conftest import SEED_PAGE


@pytest.fixture(scope="module")
def fake_index():
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    ingest_paths([SEED_PAGE.parent], arch, FakeEmbedder())
    return HybridRetriever(FakeEmbedder(), arch)


class TestNewsragRetrieverFake(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _index(self, fake_index):
        self.index = fake_index

    @property
    def retriever_constructor(self) -> type[NewsragRetriever]:
        return NewsragRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"retriever": self.index, "top_k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "网格员技能大比武"

    @property
    def num_results_arg_name(self) -> str:
        return "top_k"


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("lc-std"), model_cache=Settings.from_env().model_cache)
    embedder = make_embedder(settings)
    archive = open_archive(settings, embedder)
    ingest_paths([SEED_PAGE.parent], archive, embedder)
    return HybridRetriever(embedder, archive)


@pytest.mark.integration
@pytest.mark.slow
class TestNewsragRetrieverEmbeddingGemmaChroma(TestNewsragRetrieverFake):
    @pytest.fixture(autouse=True)
    def _index(self, real_index):
        self.index = real_index

    @property
    def retriever_query_example(self) -> str:
        return "宪法宣传周活动哪天启动？"
