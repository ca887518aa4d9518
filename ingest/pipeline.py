"""files -> pages -> articles -> chunks -> embeddings -> store, idempotently.

Chunk ids are content hashes, so the store is updated by difference per page:
chunks already stored are left alone (and not re-embedded), new ones are added,
and chunks of the page that are no longer produced are removed *after* the new
ones are in. An interrupted run therefore leaves at worst a superset, and
running it again ends complete with no duplicates.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ingest.articles import segment
from ingest.chunks import CHUNK_CHARS, chunk_article, window_chunk
from ingest.continuations import Head, Segment, issue_prefix, link_articles, linked, match
from ingest.page_images import PageImages
from ingest.pages import FileResult, Problem, discover, read_parts
from ingest.readers.ocr import OcrEngine, RapidOcr
from rag.archive import Archive
from rag.catalogue import head_parts
from rag.embedding import Embedder
from rag.records import Article, Chunk, Hit, PageKey, join_windows
from rag.store import Lookup

__all__ = ["IngestReport", "ingest_paths", "articles_from_result"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed so far)


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
    # pages where no article was recognised, ingested as one article per block (issue 32)
    pages_fallback: list[str] = field(default_factory=list)
    # not in the JSON summary: which page keys each file gave, and which of them the
    # archive already held (so this ingest replaced them)
    keys_by_file: dict[str, dict[str, None]] = field(default_factory=dict)  # file -> its page keys, in order
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


def articles_from_result(res: FileResult, fell_back: list[str] | None = None) -> list[Article]:
    """The articles of one read file: segmented pages plus pre-segmented JSONL rows; the pages
    that fell back to page-level articles are added to ``fell_back``."""
    out = list(res.articles)
    for page in res.pages:
        seg = segment(page)
        if seg.fell_back and fell_back is not None:
            fell_back.append(f"{res.path}" + (f" 第{page.page}版" if page.page else ""))
        out.extend(seg.articles)
    return out


@dataclass
class _Counts:
    """Chunks embedded so far, and chunks found to embed so far (it grows as files are read)."""

    done: int = 0
    total: int = 0


def ingest_paths(
    paths: Iterable[Path],
    store: Archive,
    embedder: Embedder,
    *,
    batch_size: int = 64,
    chunk_chars: int = CHUNK_CHARS,
    progress: Progress | None = None,
    images: PageImages | None = None,
    ocr: OcrEngine | None = None,
    group_articles: int = 500,
) -> IngestReport:
    """Ingest files and folders into ``store``, streaming: files are read, segmented, chunked,
    embedded and written in groups of about ``group_articles`` articles (a JSONL file is read
    that many rows at a time), so memory stays flat however many files come.

    Args:
        paths: files or folders (searched recursively).
        store: the archive chunks go to; must have been opened for ``embedder``.
        embedder: turns chunk texts into vectors.
        batch_size: chunks embedded and written per step (the embedder sorts each step by
            length, so a step of 64 wastes less on padding than one of 8).
        chunk_chars: target chunk size (see ingest/chunks.py for how it was chosen).
        progress: called as ``progress(done, total)`` with the chunks embedded so far and the
            chunks to embed found so far (the total grows as files are read).
        images: where page images of PDF and scanned pages are kept (None: not kept).
        ocr: reads scanned pages (default: RapidOCR, loaded when the first scan comes).
        group_articles: articles read before a group is written.

    Returns:
        What was read, skipped (with reasons), added, kept and removed.

    Raises:
        IndexReadOnly: the store is on a read-only disk or mount.
    """
    store.check_writable()  # before anything is read (page images are written while reading)
    t0 = time.perf_counter()
    rep = IngestReport()
    if ocr is None:
        ocr = RapidOcr()  # nothing loads until a scan needs it
    manifests: dict = {}
    group = _Group()
    counts = _Counts()
    for path in discover([Path(p) for p in paths]):
        read_any = False
        for res in read_parts(path, manifests, images=images, ocr=ocr, rows=group_articles):
            rep.skipped.extend(res.problems)
            if res.skipped:
                continue
            read_any = True
            group.add(path, res, rep)
            if group.articles >= group_articles:
                _write_group(group, store, embedder, rep, batch_size, chunk_chars, progress, counts)
                group = _Group()
        if read_any:
            rep.files_read += 1
        else:
            rep.files_skipped += 1
            log.warning("skipped %s", rep.skipped[-1] if rep.skipped else path)
    _write_group(group, store, embedder, rep, batch_size, chunk_chars, progress, counts)
    rep.seconds = time.perf_counter() - t0
    return rep


@dataclass
class _Group:
    """The articles read since the last write, by page key."""

    arts_by_key: dict[str, list[Article]] = field(default_factory=dict)
    owner: dict[str, Path] = field(default_factory=dict)
    superseded: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)  # key -> (old keys, source)
    articles: int = 0

    def add(self, path: Path, res: FileResult, rep: IngestReport) -> None:
        self.superseded.update((p.key, (p.supersedes, p.source)) for p in res.pages if p.supersedes)
        arts = articles_from_result(res, rep.pages_fallback)
        keys = rep.keys_by_file.setdefault(str(path), {})  # an ordered set: a JSONL file has a key per row
        keys.update(dict.fromkeys([p.key for p in res.pages] + [a.page_key for a in arts]))
        for art in arts:
            rep.articles += 1
            self.articles += 1
            # a page key seen again from another file replaces it, as a re-ingest would
            if self.owner.setdefault(art.page_key, path) != path:
                self.owner[art.page_key] = path
                self.arts_by_key.pop(art.page_key, None)
            self.arts_by_key.setdefault(art.page_key, []).append(art)


def _write_group(group: _Group, store: Archive, embedder: Embedder, rep: IngestReport, batch_size: int,
                 chunk_chars: int, progress: Progress | None, counts: _Counts) -> None:
    """Diff one group's pages against the archive and write the difference: new chunks embedded
    and added first, then what the pages no longer produce removed (an interruption leaves
    at worst a superset)."""
    if not group.arts_by_key:
        return
    arts_by_key, relinked, unlinked = _link_continuations(store, group.arts_by_key)
    by_page: dict[str, list[Chunk]] = {}
    for key, page_arts in arts_by_key.items():
        chunks = [c for art in page_arts for c in chunk_article(art, chunk_chars)]
        by_page[key] = list({c.chunk_id: c for c in chunks}.values())

    existing = store.store.ids_by_page(list(by_page))
    earlier = _superseded_ids(store, group.superseded)
    to_add: list[Chunk] = []
    stale: list[str] = []
    for key, chunks in by_page.items():
        stored = existing.get(key, set())
        if stored or earlier.get(key):
            rep.replaced.add(key)
        stale.extend(sorted(earlier.get(key, set())))
        new_ids = {c.chunk_id for c in chunks}
        rep.chunks_unchanged += len(new_ids & stored)
        to_add.extend(c for c in chunks if c.chunk_id not in stored)
        stale.extend(sorted(stored - new_ids))

    # segments stored earlier whose story arrived (or changed) now: re-keyed under it
    to_add.extend(relinked)
    stale.extend(unlinked)
    counts.total += len(to_add)
    if progress and to_add:
        progress(counts.done, counts.total)
    for i in range(0, len(to_add), batch_size):
        part = to_add[i : i + batch_size]
        vecs = embedder.embed_documents([c.embed_text for c in part])
        store.add(part, vecs)
        rep.chunks_added += len(part)
        counts.done += len(part)
        if progress:
            progress(counts.done, counts.total)
    if stale:
        store.delete(stale)
        rep.chunks_removed += len(stale)


def _groups(store: Archive, keys: Iterable[str]) -> dict[str, list[Hit]]:
    """Stored chunks of the given page keys, by article, in reading order."""
    keys = sorted(set(keys))
    out: dict[str, list[Hit]] = {}
    for i in range(0, len(keys), 500):
        for h in store.store.find(Lookup(page_keys=tuple(keys[i : i + 500]))):
            out.setdefault(h.article_id, []).append(h)
    for hits in out.values():
        hits.sort(key=lambda h: h.chunk_index)
    return out


def _stored_head(hits: list[Hit]) -> Head:
    h = hits[0]
    kicker, title, subtitle = head_parts(h.headline, h.title)
    text = re.sub(r"\s+", "", join_windows([x.text for x in hits]))
    return Head(h.article_id, issue_prefix(h.page_key), h.page or 0, h.continues_on_page or 0, kicker, title, subtitle, text)


def _stored_segment(hits: list[Hit]) -> Segment:
    h = hits[0]
    md_segment = h.segment_id or h.article_id
    jump = h.jump_head if h.story_id else (h.headline or h.title)
    opening = re.sub(r"\s+", "", join_windows([x.text for x in hits]))[:120]
    return Segment(md_segment, h.page or 0, h.continued_from_page or 0, jump, opening)


def _link_continuations(store: Archive, arts_by_key: dict[str, list[Article]]) -> tuple[dict[str, list[Article]], list[Chunk], list[str]]:
    """Link the batch's 上接 segments to their stories (in the batch or stored), and re-key
    stored segments whose story is in the batch: (articles by page, chunks to add, ids to drop)."""
    batch = [a for arts in arts_by_key.values() for a in arts]
    wanted_heads = {str(PageKey.parse(a.page_key).sibling(a.continued_from_page)) for a in batch
                    if a.continued_from_page and issue_prefix(a.page_key)} - set(arts_by_key)
    heads = [_stored_head(hits) for hits in _groups(store, wanted_heads).values() if hits[0].continues_on_page]
    linked = iter(link_articles(batch, heads))
    arts_by_key = {key: [next(linked) for _ in arts] for key, arts in arts_by_key.items()}
    # the other way round: stored segments continuing the batch's articles
    wanted_segs = {str(PageKey.parse(a.page_key).sibling(a.continues_on_page)) for a in batch
                   if a.continues_on_page and issue_prefix(a.page_key)} - set(arts_by_key)
    stored = [hits for hits in _groups(store, wanted_segs).values() if hits[0].continued_from_page]
    if not stored:
        return arts_by_key, [], []
    batch_heads = [Head.of(a) for a in batch if a.continues_on_page and a.page]
    add: list[Chunk] = []
    drop: list[str] = []
    for prefix in {issue_prefix(hits[0].page_key) for hits in stored}:
        segs = [(hits, _stored_segment(hits)) for hits in stored if issue_prefix(hits[0].page_key) == prefix]
        links = match([s for _, s in segs], [h for h in batch_heads if h.issue == prefix])
        for hits, seg in segs:
            head = links.get(seg.segment_id)
            if (head.article_id if head else "") == hits[0].story_id:
                continue  # linked as it should be
            chunks = _rekey(hits, seg, head)
            add.extend(chunks)
            drop.extend(h.chunk_id for h in hits if h.chunk_id not in {c.chunk_id for c in chunks})
    return arts_by_key, add, drop


def _rekey(hits: list[Hit], seg: Segment, head: Head | None) -> list[Chunk]:
    """A stored segment's chunks as linking (or unlinking) would have written them."""
    h = hits[0]
    base = Article(seg.segment_id, seg.segment_id, h.paper, h.date, h.page, seg.jump_head if head is None else "",
                   "", byline=h.byline, continues_on_page=h.continues_on_page, continued_from_page=seg.continued_from_page,
                   page_key=h.page_key, source=h.source)
    art = linked(base, head, seg.segment_id, seg.jump_head) if head else base
    chars = len(join_windows([x.text for x in hits]))
    return [window_chunk(art, x.text, x.chunk_index, x.place, chars) for x in hits]


def _superseded_ids(store: Archive, superseded: dict[str, tuple[tuple[str, ...], str]]) -> dict[str, set[str]]:
    """Chunks an earlier version stored for a page under another key, by the page's key now.

    Undated issue folders without an ``issue`` name were keyed by folder name alone, so two
    such folders of one paper were one issue. They are told apart now; a page's chunks under
    the old key that came from the same source file are its own and are replaced. The
    catalogue says which old pages exist and their source, so only those are looked up.
    """
    wanted: dict[str, list[tuple[str, str]]] = {}
    for key, (olds, source) in superseded.items():
        for old in olds:
            wanted.setdefault(old, []).append((key, source))
    present = sorted(store.catalogue.pages_by_source(list(wanted)))  # old pages the archive still holds
    out: dict[str, set[str]] = {}
    for i in range(0, len(present), 500):
        for h in store.store.find(Lookup(page_keys=tuple(present[i : i + 500])), with_text=False):
            for key, source in wanted[h.page_key]:
                if h.source == source:  # two old folders shared the key: only this page's own chunks
                    out.setdefault(key, set()).add(h.chunk_id)
                    break
    return out
