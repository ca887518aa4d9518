"""Helpers the benchmarks share: offline scoring of ranked ids, fusion of id lists, a cached archive.

Benchmarks use only public names of the library; what they need beyond that lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from rag.evaluation import EvalResult, Question, QuestionResult
from rag.records import Hit

__all__ = ["METRICS", "CachedArchive", "summarise", "rrf", "scores_line"]

METRICS = ("hit@1", "hit@5", "hit@10", "mrr@10")


class CachedArchive:
    """Serves ``get`` from hits already seen, so offline fusion needs no store."""

    def __init__(self, hits: dict[str, Hit]) -> None:
        self.hits = hits
        self.store = self  # the retriever reads stored chunks through archive.store

    def get(self, ids: Sequence[str]) -> list[Hit]:
        return [self.hits[i] for i in ids if i in self.hits]


def summarise(questions: Sequence[Question], found_for: Callable[[Question], list[str]], top_k: int = 10) -> dict:
    """``EvalResult.summary()`` for the ranked source ids ``found_for(question)`` gives."""
    res = EvalResult(top_k=top_k)
    for q in questions:
        found = found_for(q)[:top_k]
        rank = next((i for i, s in enumerate(found, 1) if s in q.gold), None)
        res.results.append(QuestionResult(q, found, [], rank, 0.0))
    return res.summary()


def rrf(legs: Sequence[tuple[Sequence[str], float]], k: float) -> list[str]:
    """Weighted reciprocal rank fusion of any number of ranked id lists, best first."""
    scores: dict[str, float] = {}
    for ids, weight in legs:
        if weight:
            for rank, cid in enumerate(ids, 1):
                scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return sorted(scores, key=lambda c: -scores[c])


def scores_line(summary: dict) -> str:
    """``hit@1 0.690 hit@5 0.930 …`` for one split."""
    return " ".join(f"{m} {summary[m]:.3f}" for m in METRICS)


def first_lines(path: Path, n: int, folder: Path) -> Path:
    """A copy of the first ``n`` lines of a JSONL file in ``folder`` (a temp dir: the data is
    read from where it lies and never copied into the project)."""
    out = Path(folder) / f"first-{n}.jsonl"
    with Path(path).open(encoding="utf-8") as f, out.open("w", encoding="utf-8") as w:
        for i, line in enumerate(f):
            if i >= n:
                break
            w.write(line)
    return out
