"""The chunk store's interface: what every backend does, in newsrag's own terms.

Lookups are typed (ids, page keys, an article, a story, SearchFilters); each backend
translates them into its own query language. Embeddings are always passed in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.filters import SearchFilters
from rag.records import Chunk, Hit, embed_text

__all__ = ["ChunkStore", "Lookup", "chunk_of_hit"]


@dataclass(frozen=True)
class Lookup:
    """Which stored chunks to find; the conditions given are all met (none: every chunk)."""

    page_keys: tuple[str, ...] = ()
    article_ids: tuple[str, ...] = ()
    story_id: str = ""
    filters: SearchFilters | None = None

    @property
    def everything(self) -> bool:
        return not (self.page_keys or self.article_ids or self.story_id or (self.filters and not self.filters.empty))


def chunk_of_hit(h: Hit) -> Chunk:
    """A stored chunk written back as it is (its vector reused): its metadata as stored."""
    md: dict = {"headline": h.headline, "source": h.source}
    if h.place is not None:
        md["place"] = h.place
    for k in ("story_id", "segment_id", "jump_head"):
        if getattr(h, k):
            md[k] = getattr(h, k)
    if h.continued_from_page is not None:
        md["continued_from_page"] = h.continued_from_page
    return Chunk(
        chunk_id=h.chunk_id, article_id=h.article_id, source_id=h.source_id, page_key=h.page_key,
        index=h.chunk_index, text=h.text, embed_text=embed_text(h.headline, h.text),
        title=h.title, paper=h.paper, date=h.date, page=h.page, byline=h.byline,
        continues_on_page=h.continues_on_page, metadata=md,
    )


class ChunkStore(ABC):
    """Where chunks and their vectors live. Every backend passes tests/test_store_contract.py."""

    embedder_name: str
    # the embedder's run-time form the stored vectors were made in ("float32", "bfloat16");
    # "" for embedders with no choice
    embedder_form: str = ""
    # on a read-only disk or mount: searched, never written (add and delete raise IndexReadOnly)
    read_only: bool = False

    def check_writable(self) -> None:
        """Nothing by default; a store on a read-only disk or mount raises IndexReadOnly."""
        return None

    @abstractmethod
    def add(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        """Insert or overwrite chunks with their vectors."""

    @abstractmethod
    def delete(self, ids: Iterable[str]) -> None:
        """Remove chunks by id; unknown ids are ignored."""

    @abstractmethod
    def count(self) -> int:
        """Number of stored chunks."""

    @abstractmethod
    def all_ids(self) -> set[str]:
        """Every stored chunk id."""

    @abstractmethod
    def get(self, ids: Sequence[str], with_text: bool = True) -> list[Hit]:
        """Stored chunks by id, in the order asked (unknown ids left out), score 0."""

    @abstractmethod
    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of the given chunks (unknown ids are left out)."""

    @abstractmethod
    def query(self, embedding: np.ndarray, k: int, filters: SearchFilters | None = None) -> list[Hit]:
        """Nearest chunks passing ``filters`` by cosine similarity, best first."""

    @abstractmethod
    def find(self, lookup: Lookup | None = None, with_text: bool = True) -> list[Hit]:
        """Every chunk the lookup names (all when None), in no particular order, score 0.

        ``with_text=False`` leaves ``text`` empty: listing pages needs only metadata.
        """

    @abstractmethod
    def layout(self) -> int:
        """The layout version the stored chunks were written in (see rag/archive.py)."""

    @abstractmethod
    def set_layout(self, version: int) -> None:
        """Record that the stored chunks are now in layout ``version``."""

    def ids_by_page(self, page_keys: Sequence[str]) -> dict[str, set[str]]:
        """Chunk ids currently stored for each page key (keys with none are absent)."""
        out: dict[str, set[str]] = {}
        keys = list(dict.fromkeys(page_keys))
        for i in range(0, len(keys), 500):
            for h in self.find(Lookup(page_keys=tuple(keys[i : i + 500])), with_text=False):
                out.setdefault(h.page_key, set()).add(h.chunk_id)
        return out

    def rewrite(self, chunks: Sequence[Chunk], batch: int = 64) -> list[Chunk]:
        """Write stored chunks again with new metadata (a new page key, a story's headline),
        reusing their stored vectors: nothing is embedded.

        Returns:
            The chunks whose vectors were gone (deleted meanwhile): they must be embedded.
        """
        lost: list[Chunk] = []
        for i in range(0, len(chunks), batch):
            part = list(chunks[i : i + batch])
            vecs = self.vectors([c.chunk_id for c in part])
            lost.extend(c for c in part if c.chunk_id not in vecs)
            part = [c for c in part if c.chunk_id in vecs]
            if part:
                self.add(part, np.stack([vecs[c.chunk_id] for c in part]))
        return lost
