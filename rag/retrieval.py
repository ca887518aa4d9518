"""Hybrid search: dense (Chroma) + keyword (BM25 over jieba), fused, filtered, deduplicated.

Defaults were tuned on the RGB-zh dev split (300 questions; the test split,
every 4th question, was only measured at the end): see bench/tune_retrieval.py
and the README's "Retrieval" section for the figures behind each number.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.archive import Archive
from rag.embedding import Embedder
from rag.errors import InputError
from rag.filters import SearchFilters
from rag.records import Hit, embed_text
from rag.rerank import Reranker
from rag.text import asks_for_date, bigrams, jaccard, normalize, states_date

__all__ = ["SearchFilters", "HybridRetriever", "open_retriever", "clean_query", "MAX_TOP_K", "MAX_QUERY_CHARS"]

MAX_TOP_K = 100
# Longer questions are cut: the embedder reads ~512 tokens at most, and a pasted
# article as a "question" should still search, not fail.
MAX_QUERY_CHARS = 1000


def clean_query(query: str) -> str:
    """The query as both legs see it: normalised, trimmed, at most MAX_QUERY_CHARS.

    Raises:
        InputError: nothing is left to search for.
    """
    q = normalize(query or "").strip()[:MAX_QUERY_CHARS]
    if not q:
        raise InputError("the question is empty: type what you are looking for", zh="问题是空的，请输入要问或要查找的内容")
    return q


@dataclass
class HybridRetriever:
    """Search an Archive with both legs and reciprocal rank fusion.

    Attributes:
        rrf_k: the RRF constant; smaller trusts the top ranks of each leg more.
        dense_weight / keyword_weight: each leg's weight in the fused score.
        candidates: how many hits each leg contributes before fusion.
        per_article: chunks of one article kept in the top results; more
            are moved below other articles, near-duplicates are dropped.
        reranker: optional second stage (a cross-encoder) that reorders the best
            ``rerank_candidates`` fused hits before dedupe; off by default.

    The retriever holds no per-request state: one instance serves concurrent users.
    """

    embedder: Embedder
    archive: Archive
    # Tuned on the RGB-zh dev split (300 questions) with EmbeddingGemma, 140 settings
    # (bench/tune_retrieval.py, results in README "Retrieval"). Equal-weight RRF lets
    # BM25 pull hit@5 down (dev 0.927 vs 0.933 for dense alone); the keyword leg at
    # half the dense weight is best on dev (hit@5 0.957, MRR@10 0.792 vs 0.933 / 0.774),
    # and k=60 beat 5, 10, 20 and 30 there. On the seed page the keyword leg is what
    # puts names and numbers first.
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    keyword_weight: float = 0.5
    candidates: int = 50
    # A question that asks for a date ("哪天", "什么时候", "上映时间", "when") lifts each
    # candidate that states one ("12月1日", "2023年12月", "2023-12-01") by this much
    # fused score: what separates dense rank 1 from rank 9 at k=60 (1/61 - 1/69).
    # Topically close passages that lack the date are what such questions miss. On
    # RGB-zh dev (56 date questions of 300) it moved 9 golds up and 2 down: hit@5
    # 0.957 -> 0.960, MRR@10 0.792 -> 0.801; every lift from 0.001 to 0.008 is within
    # 0.003 MRR of that. The same lift for numbers in "多少" questions changed nothing
    # and is not used (bench/retrieval_ideas.py section 6).
    date_boost: float = 0.002
    # RGB passages are single chunks, so this changed nothing there; 2 keeps a
    # neighbouring window of a long article (context) without filling the page with it.
    per_article: int = 2
    reranker: Reranker | None = None
    rerank_candidates: int = 20

    def search(self, query: str, top_k: int = 5, filters: SearchFilters | None = None) -> list[Hit]:
        """Ranked hits for a question.

        Raises:
            InputError: the question is empty, or top_k is out of range.
        """
        return self.search_timed(query, top_k, filters)[0]

    def search_timed(
        self, query: str, top_k: int = 5, filters: SearchFilters | None = None
    ) -> tuple[list[Hit], dict[str, float]]:
        """``search``, and the milliseconds of each stage (embed, dense, keyword, fuse, rerank)."""
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise InputError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k!r}", zh=f"结果条数应在 1 到 {MAX_TOP_K} 之间，{top_k!r} 不行")
        q = clean_query(query)
        filters = filters or SearchFilters()
        t: dict[str, float] = {}
        n = max(self.candidates, top_k)
        dense: list[Hit] = []
        if self.dense_weight > 0:
            t0 = time.perf_counter()
            vec = self.embedder.embed_query(q)
            t1 = time.perf_counter()
            dense = self.archive.store.query(vec, n, filters)
            t["embed_ms"], t["dense_ms"] = (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000
        keyword: list[tuple[str, float]] = []
        if self.keyword_weight > 0:
            t0 = time.perf_counter()
            keyword = self.archive.keyword.search(q, n, filters)
            t["keyword_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        fused = self.fuse(dense, keyword, q)
        t["fuse_ms"] = (time.perf_counter() - t0) * 1000
        if self.reranker is not None and fused:
            t0 = time.perf_counter()
            fused = self.rerank(q, fused)
            t["rerank_ms"] = (time.perf_counter() - t0) * 1000
        return self.dedupe(fused)[:top_k], t

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """The best ``rerank_candidates`` hits reordered by the reranker (its score on
        each), the rest after them in fused order."""
        assert self.reranker is not None
        head, tail = list(hits[: self.rerank_candidates]), list(hits[self.rerank_candidates :])
        scores = self.reranker.score(query, [embed_text(h.headline, h.text) for h in head])
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        return [replace(head[i], score=float(scores[i])) for i in order] + tail

    def fuse(self, dense: list[Hit], keyword: list[tuple[str, float]], query: str = "") -> list[Hit]:
        """Weighted reciprocal rank fusion; hits only the keyword leg found are fetched.

        ``query`` (normalised) lifts candidates stating a date when it asks for one.
        """
        scores: dict[str, float] = {}
        for rank, h in enumerate(dense, 1):
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + self.dense_weight / (self.rrf_k + rank)
        for rank, (cid, _) in enumerate(keyword, 1):
            scores[cid] = scores.get(cid, 0.0) + self.keyword_weight / (self.rrf_k + rank)
        known = {h.chunk_id: h for h in dense}
        missing = [cid for cid, _ in keyword if cid not in known]
        known.update({h.chunk_id: h for h in self.archive.store.get(missing)})
        if self.date_boost and asks_for_date(query):
            for cid in scores:
                if cid in known and states_date(known[cid].text):
                    scores[cid] += self.date_boost
        cosine = {h.chunk_id: h.score for h in dense}
        order = sorted((cid for cid in scores if cid in known), key=lambda c: -scores[c])
        return [replace(known[c], score=scores[c], relevance=cosine.get(c)) for c in order]

    def dedupe(self, hits: Sequence[Hit]) -> list[Hit]:
        """Drop near-copies of a window already kept, and move windows beyond
        ``per_article`` of one article below the other articles."""
        kept: list[Hit] = []
        overflow: list[Hit] = []
        seen: dict[str, list[set[str]]] = {}
        for h in hits:
            grams = bigrams(h.text)
            prior = seen.setdefault(h.article_id, [])
            if any(jaccard(grams, g) > 0.8 for g in prior):
                continue  # a near-copy of a window already shown
            prior.append(grams)
            (kept if len(prior) <= self.per_article else overflow).append(h)
        return kept + overflow


def open_retriever(settings, **overrides) -> HybridRetriever:
    """The retriever the CLI and the app use: configured embedder, archive and reranker."""
    from rag.archive import open_archive
    from rag.embedding import make_embedder
    from rag.rerank import make_reranker

    embedder = make_embedder(settings)
    archive = open_archive(settings, embedder, create=False)
    overrides.setdefault("reranker", make_reranker(settings))
    overrides.setdefault("rerank_candidates", settings.rerank_candidates)
    return HybridRetriever(embedder, archive, **overrides)
