"""files -> pages -> articles -> chunks -> embeddings -> store, idempotently.

Chunk ids are content hashes, so the store is updated by difference per page:
chunks already stored are left alone (and not re-embedded), new ones are added,
and chunks of the page that are no longer produced are removed *after* the new
ones are in. An interrupted run therefore leaves at worst a superset, and
running it again ends complete with no duplicates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ingest.articles import segment_page
from ingest.chunks import CHUNK_CHARS, chunk_article
from ingest.pages import FileResult, Problem, discover, read_file
from rag.embedding import Embedder
from rag.records import DOC_KEY, Article, Chunk
from rag.store import ChunkStore

__all__ = ["IngestReport", "ingest_paths", "articles_from_result"]

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass
class IngestReport:
    files_read: int = 0
    files_skipped: int = 0
    skipped: list[Problem] = field(default_factory=list)
    articles: int = 0
    chunks_added: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    # not in the JSON summary: which page keys each file gave, and which of them the
    # archive already held (so this ingest replaced them)
    keys_by_file: dict[str, list[str]] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.skipped

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["keys_by_file"], d["replaced"]
        d["skipped"] = [{"file": p.file, "line": p.line, "reason": p.reason} for p in self.skipped]
        d["seconds"] = round(self.seconds, 3)
        return d


def articles_from_result(res: FileResult) -> list[Article]:
    """The articles of one read file: segmented pages plus pre-segmented JSONL rows."""
    out = list(res.articles)
    for page in res.pages:
        out.extend(segment_page(page))
    return out


def ingest_paths(
    paths: Iterable[Path],
    store: ChunkStore,
    embedder: Embedder,
    *,
    batch_size: int = 32,
    chunk_chars: int = CHUNK_CHARS,
    progress: Callable[[int, int], Progress] | None = None,
) -> IngestReport:
    """Ingest files and folders into ``store``.

    Args:
        paths: files or folders (searched recursively).
        store: where chunks go; must have been opened for ``embedder``.
        embedder: turns chunk texts into vectors.
        batch_size: chunks embedded and written per step.
        chunk_chars: target chunk size (see ingest/chunks.py for how it was chosen).
        progress: factory ``(total, initial) -> advance(n)`` for a progress display.

    Returns:
        What was read, skipped (with reasons), added, kept and removed.
    """
    t0 = time.perf_counter()
    rep = IngestReport()
    by_page: dict[str, list[Chunk]] = {}
    manifests: dict = {}
    owner: dict[str, Path] = {}
    superseded: dict[str, tuple[tuple[str, ...], str]] = {}  # page key -> (its old keys, its source)
    for path in discover([Path(p) for p in paths]):
        res = read_file(path, manifests)
        rep.skipped.extend(res.problems)
        if res.skipped:
            rep.files_skipped += 1
            log.warning("skipped %s", res.problems[0])
            continue
        rep.files_read += 1
        superseded.update((p.key, (p.supersedes, p.source)) for p in res.pages if p.supersedes)
        arts = articles_from_result(res)
        rep.keys_by_file[str(path)] = list(dict.fromkeys([p.key for p in res.pages] + [a.page_key for a in arts]))
        for art in arts:
            rep.articles += 1
            # a page key seen again from another file replaces it, as a re-ingest would
            if owner.setdefault(art.page_key, path) != path:
                owner[art.page_key] = path
                by_page.pop(art.page_key, None)
            by_page.setdefault(art.page_key, []).extend(chunk_article(art, chunk_chars))
    for key, chunks in by_page.items():
        by_page[key] = list({c.chunk_id: c for c in chunks}.values())

    existing = store.ids_by_page(list(by_page))
    legacy = _legacy_doc_ids(store, by_page)
    earlier = _superseded_ids(store, superseded)
    to_add: list[Chunk] = []
    to_move: list[Chunk] = []
    stale: list[str] = []
    for key, chunks in by_page.items():
        have = existing.get(key, set())
        old = legacy.get(key, set()) - have
        stored = have | old
        if stored or earlier.get(key):
            rep.replaced.add(key)
        stale.extend(sorted(earlier.get(key, set())))
        new_ids = {c.chunk_id for c in chunks}
        rep.chunks_unchanged += len(new_ids & stored)
        to_add.extend(c for c in chunks if c.chunk_id not in stored)
        # an unchanged chunk under the old key is written again (same id) with the new key
        to_move.extend(c for c in chunks if c.chunk_id in old)
        stale.extend(sorted(stored - new_ids))

    lost = _move(store, to_move, batch_size)
    rep.chunks_unchanged -= len(lost)
    to_add.extend(lost)
    advance = progress(len(to_add), 0) if progress else (lambda n: None)
    for i in range(0, len(to_add), batch_size):
        part = to_add[i : i + batch_size]
        vecs = embedder.embed_documents([c.embed_text for c in part])
        store.add(part, vecs)
        rep.chunks_added += len(part)
        advance(len(part))
    if stale:
        store.delete(stale)
        rep.chunks_removed = len(stale)
    rep.seconds = time.perf_counter() - t0
    return rep


def _move(store: ChunkStore, chunks: list[Chunk], batch_size: int) -> list[Chunk]:
    """Write stored chunks again with new metadata, reusing their vectors (no re-embedding).

    Returns the chunks whose vectors were gone (deleted meanwhile): they must be embedded.
    """
    lost: list[Chunk] = []
    for i in range(0, len(chunks), batch_size):
        part = chunks[i : i + batch_size]
        vecs = store.vectors([c.chunk_id for c in part])
        lost.extend(c for c in part if c.chunk_id not in vecs)
        part = [c for c in part if c.chunk_id in vecs]
        if part:
            store.add(part, np.stack([vecs[c.chunk_id] for c in part]))
    return lost


def _superseded_ids(store: ChunkStore, superseded: dict[str, tuple[tuple[str, ...], str]]) -> dict[str, set[str]]:
    """Chunks an earlier version stored for a page under another key, by the page's key now.

    Undated issue folders without an ``issue`` name were keyed by folder name alone, so two
    such folders of one paper were one issue. They are told apart now; a page's chunks under
    the old key that came from the same source file are its own and are replaced.
    """
    wanted: dict[str, list[tuple[str, str]]] = {}
    for key, (olds, source) in superseded.items():
        for old in olds:
            wanted.setdefault(old, []).append((key, source))
    out: dict[str, set[str]] = {}
    olds = sorted(wanted)
    for i in range(0, len(olds), 500):
        for h in store.find({"page_key": {"$in": olds[i : i + 500]}}, with_text=False):
            for key, source in wanted[h.page_key]:
                if h.source == source:
                    out.setdefault(key, set()).add(h.chunk_id)
                    break
    return out


def _legacy_doc_ids(store: ChunkStore, by_page: dict[str, list[Chunk]]) -> dict[str, set[str]]:
    """Chunks that indexes written before JSONL pages were keyed by article id hold
    under the old key ``doc:<source id>``, by the new key of their article.

    The old key left out the paper, so it is matched together with the article id:
    a chunk of the same id from another paper is another article and stays.
    """
    new_key: dict[tuple[str, str], str] = {}
    for key, chunks in by_page.items():
        if not chunks or not key.startswith(DOC_KEY):
            continue
        old_key = f"{DOC_KEY}{chunks[0].source_id}"
        if key != old_key:
            new_key[(old_key, chunks[0].article_id)] = key
    old_keys = sorted({old for old, _ in new_key})
    out: dict[str, set[str]] = {}
    for i in range(0, len(old_keys), 500):
        for h in store.find({"page_key": {"$in": old_keys[i : i + 500]}}, with_text=False):
            key = new_key.get((h.page_key, h.article_id))
            if key:
                out.setdefault(key, set()).add(h.chunk_id)
    return out
