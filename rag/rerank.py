"""An optional second stage: a cross-encoder reorders the fused candidates.

Off by default: no Chinese cross-encoder ships in a package registry, and the fused
dense + keyword ranking is what was tuned and measured here. Users who reach a model
hub set ``NEWSRAG_RERANKER=BAAI/bge-reranker-v2-m3`` (or a local folder); the cost
per query is in bench/README.md.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from rag.errors import ModelNotAvailable

__all__ = ["Reranker", "CrossEncoderReranker", "FakeReranker", "make_reranker"]


class Reranker(ABC):
    """Scores (query, passage) pairs; higher is more relevant."""

    name: str

    @abstractmethod
    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One score per passage, in the order given."""


class CrossEncoderReranker(Reranker):
    """A sentence-transformers ``CrossEncoder`` by hub name or local folder, loaded on first use."""

    def __init__(self, model: str, batch_size: int = 16, max_length: int = 512) -> None:
        self.model = model
        self.name = f"cross-encoder:{model}"
        self.batch_size = batch_size
        self.max_length = max_length
        self._ce = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._ce is None:
                try:
                    from sentence_transformers import CrossEncoder
                except ImportError as exc:
                    raise ModelNotAvailable(
                        "sentence-transformers is not installed: pip install 'sentence-transformers>=5' "
                        "(or unset NEWSRAG_RERANKER)"
                    ) from exc
                try:
                    self._ce = CrossEncoder(self.model, device="cpu", max_length=self.max_length)
                except (OSError, ValueError) as exc:
                    raise ModelNotAvailable(
                        f"cannot load the reranker {self.model!r}: {exc}. Give a local folder, a hub name on a "
                        "machine that reaches the hub, or unset NEWSRAG_RERANKER.",
                        zh=f"无法加载重排序模型 {self.model}：请给出本地文件夹，或取消 NEWSRAG_RERANKER",
                    ) from exc
            return self._ce

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        ce = self._load()
        out = ce.predict([(query, p) for p in passages], batch_size=self.batch_size, show_progress_bar=False,
                         convert_to_numpy=True)
        return [float(x) for x in out.reshape(len(passages), -1)[:, 0]]


class FakeReranker(Reranker):
    """Deterministic: the share of the query's characters in the passage. For fast tests only."""

    name = "fake-reranker"

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        chars = set(query)
        tie = [int.from_bytes(hashlib.blake2b(p.encode(), digest_size=2).digest(), "little") / 1e9 for p in passages]
        return [len(chars & set(p)) / (len(chars) or 1) + t for p, t in zip(passages, tie)]


def make_reranker(settings) -> Reranker | None:
    """The reranker named by ``NEWSRAG_RERANKER``, or None (the default: no second stage)."""
    choice = (settings.reranker or "").strip()
    if not choice:
        return None
    if choice == "fake":
        return FakeReranker()
    path = Path(choice).expanduser()
    return CrossEncoderReranker(str(path) if path.is_dir() else choice)
