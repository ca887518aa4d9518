"""The hybrid retriever as a LangChain ``BaseRetriever``, for chains of our own and of users.

    from rag.lc_retriever import NewsragRetriever
    docs = NewsragRetriever(retriever=open_retriever(Settings.from_env()), top_k=4).invoke("宪法宣传周")

Kept out of ``rag/__init__`` so that ``import rag`` does not import LangChain. It passes
LangChain's own standard retriever tests (tests/test_lc_standard.py).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from rag.records import Hit
from rag.retrieval import HybridRetriever, SearchFilters

__all__ = ["NewsragRetriever", "hit_to_document"]


def hit_to_document(h: Hit) -> Document:
    """A LangChain Document whose metadata carries everything a citation needs."""
    metadata = h.to_dict()
    del metadata["text"]  # it is the page_content
    return Document(page_content=h.text, id=h.chunk_id, metadata=metadata)


class NewsragRetriever(BaseRetriever):
    """Hybrid (dense + keyword) newspaper search. ``top_k`` and ``filters`` may be
    overridden per call: ``invoke(query, top_k=3, filters=SearchFilters(page=1))``."""

    retriever: Any  # HybridRetriever; Any keeps pydantic from inspecting it
    top_k: int = 4
    filters: SearchFilters | None = None

    model_config = {"arbitrary_types_allowed": True}

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        top_k: int | None = None,
        filters: SearchFilters | None = None,
    ) -> list[Document]:
        r: HybridRetriever = self.retriever
        return [hit_to_document(h) for h in r.search(query, top_k or self.top_k, filters or self.filters)]
