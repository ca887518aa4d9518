"""An in-memory chunk store: a dict and a matrix, for tests and throwaway indexes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rag.filters import SearchFilters
from rag.records import Chunk, Hit
from rag.store.base import ChunkStore, Lookup
from rag.store.codec import chunk_metadata, hit_from_metadata

__all__ = ["InMemoryStore"]


def _admits(md: dict[str, Any], filters: SearchFilters | None) -> bool:
    return filters is None or filters.admits(md.get("paper", ""), md.get("page"), md.get("date_int"))


def _matches(md: dict[str, Any], lookup: Lookup | None) -> bool:
    if lookup is None:
        return True
    return ((not lookup.page_keys or md.get("page_key") in lookup.page_keys)
            and (not lookup.article_ids or md.get("article_id") in lookup.article_ids)
            and (not lookup.story_id or md.get("story_id") == lookup.story_id)
            and _admits(md, lookup.filters))


class InMemoryStore(ChunkStore):
    """A dict and a matrix; for tests and throwaway indexes."""

    def __init__(self, embedder_name: str = "fake", embedder_form: str = "") -> None:
        self.embedder_name = embedder_name
        self.embedder_form = embedder_form
        self._rows: dict[str, tuple[str, dict[str, Any], np.ndarray]] = {}
        self._layout = 0

    def add(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        for c, e in zip(chunks, embeddings):
            self._rows[c.chunk_id] = (c.text, chunk_metadata(c), np.asarray(e, dtype=np.float32))

    def delete(self, ids: Iterable[str]) -> None:
        for i in ids:
            self._rows.pop(i, None)

    def count(self) -> int:
        return len(self._rows)

    def all_ids(self) -> set[str]:
        return set(self._rows)

    def get(self, ids: Sequence[str], with_text: bool = True) -> list[Hit]:
        return [hit_from_metadata(i, self._rows[i][0] if with_text else "", self._rows[i][1], 0.0)
                for i in ids if i in self._rows]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {i: self._rows[i][2] for i in ids if i in self._rows}

    def query(self, embedding: np.ndarray, k: int, filters: SearchFilters | None = None) -> list[Hit]:
        rows = [(cid, r) for cid, r in self._rows.items() if _admits(r[1], filters)]
        if not rows:
            return []
        mat = np.stack([r[2] for _, r in rows])
        scores = mat @ np.asarray(embedding, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return [hit_from_metadata(rows[i][0], rows[i][1][0], rows[i][1][1], float(scores[i])) for i in order]

    def find(self, lookup: Lookup | None = None, with_text: bool = True) -> list[Hit]:
        return [hit_from_metadata(cid, r[0] if with_text else "", r[1], 0.0)
                for cid, r in self._rows.items() if _matches(r[1], lookup)]

    def layout(self) -> int:
        return self._layout

    def set_layout(self, version: int) -> None:
        self._layout = version
