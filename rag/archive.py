"""The archive: a chunk store, its keyword index and its catalogue, kept consistent.

Every add and delete goes to all three. An interrupted run can leave them apart (the vector
store is written first); ``sync`` repairs that from the vector store's own documents, and
``open_archive`` runs it whenever their counts differ. An index records its layout version;
an older one is upgraded once, when opened for writing (``Archive.upgrade``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from rag.catalogue import LAYOUT as CATALOGUE_LAYOUT
from rag.catalogue import ArticleEntry, Catalogue
from rag.embedding import Embedder
from rag.entities import extract_entities
from rag.errors import (
    DiskFull,
    EmbedderMismatch,
    IndexBusy,
    IndexUnreadable,
    NewsragError,
    StoreUnavailable,
    is_disk_full,
)
from rag.keyword import KeywordIndex, PostgresKeywordIndex
from rag.records import Chunk, Hit, IssueSummary, PageKey, join_windows
from rag.settings import Settings
from rag.store import ChunkStore, Lookup, chunk_of_hit, open_store

__all__ = ["Archive", "DeletedIssue", "open_archive", "open_keyword_index", "writer_lock", "names_in", "LAYOUT"]

log = logging.getLogger(__name__)

# The layout of the stored chunks. 1: JSONL articles keyed ``doc:<source id>`` (which two
# papers could share); 2: ``doc:<article id>``. Upgraded once, by ``Archive.upgrade``.
LAYOUT = 2


@dataclass(frozen=True)
class DeletedIssue:
    """What ``Archive.delete_issue`` removed: the issue, its chunk count, and the source ids of
    its JSONL articles (so kept copies of them can be dropped too)."""

    issue: IssueSummary
    chunks: int
    source_ids: tuple[str, ...] = field(default=())


def names_in(text: str) -> list[tuple[str, str, int]]:
    """The people, organisations and places a text names, as the catalogue keeps them
    (name, kind, mentions): ``rag.entities`` (jieba's LAC model and rules)."""
    return [(e.name, e.type, e.count) for e in extract_entities(text)]


class Archive:
    """A chunk store, its keyword index and its catalogue, written together.

    Args:
        store: where chunks and vectors live.
        keyword: the BM25 index over the same chunks.
        catalogue: issues, pages and articles (and the names in them) of the same chunks; by
            default in the keyword index's database, its names found by ``names_in``.
        home: the folder the index writes to, when it is on this machine (for disk checks).
    """

    def __init__(self, store: ChunkStore, keyword: KeywordIndex, catalogue: Catalogue | None = None,
                 home: Path | None = None) -> None:
        self.store = store
        self.keyword = keyword
        self.catalogue = catalogue if catalogue is not None else Catalogue(keyword.db, entities=names_in)
        self.home = home

    @property
    def embedder_name(self) -> str:
        return self.store.embedder_name

    @property
    def read_only(self) -> bool:
        return self.store.read_only

    def check_writable(self) -> None:
        self.store.check_writable()

    def count(self) -> int:
        """How many chunks the archive holds."""
        return self.store.count()

    # --- writing --------------------------------------------------------------------

    def add(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        """Store chunks with their vectors, index their words, catalogue their articles."""
        with self._space():
            self.store.add(chunks, embeddings)
            self.keyword.add(chunks)
            self.catalogue.add(chunks)

    def rewrite(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """Write stored chunks again with new metadata, reusing their vectors (see
        ``ChunkStore.rewrite``); returns those whose vectors were gone, to be embedded."""
        with self._space():
            lost = self.store.rewrite(chunks)
            gone = {c.chunk_id for c in lost}
            kept = [c for c in chunks if c.chunk_id not in gone]
            self.keyword.add(kept)
            self.catalogue.add(kept)
        return lost

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        with self._space():
            self.store.delete(ids)
            self.keyword.delete(ids)
            self.catalogue.delete(ids)

    def delete_pages(self, page_keys: Sequence[str]) -> int:
        """Remove every chunk of the given pages; returns how many were removed."""
        ids = [i for s in self.store.ids_by_page(page_keys).values() for i in s]
        self.delete(ids)
        return len(ids)

    def delete_issue(self, key: str) -> DeletedIssue | None:
        """Remove one issue (a key from ``issues``): every chunk of its pages. None when the
        archive has no such issue."""
        issue = self.catalogue.issue(key)
        if issue is None:
            return None
        page_keys = self.catalogue.page_keys_of(key)
        sources: tuple[str, ...] = ()
        if issue.kind == "doc":
            sources = tuple(sorted({a.source_id for k in page_keys for a in self.catalogue.articles(page_key=k)}))
        return DeletedIssue(issue, self.delete_pages(page_keys), sources)

    def _nearly_full(self) -> bool:
        """Chroma words a full disk as a failed compaction: look at the disk itself."""
        import shutil

        try:
            return self.home is not None and shutil.disk_usage(self.home).free < 8 * 2**20
        except OSError:
            return False

    @contextmanager
    def _space(self):
        """A full disk mid-write becomes DiskFull; the vector store and the indexes may then
        differ by that one batch, which ``sync`` repairs at the next open."""
        try:
            yield
        except NewsragError:
            raise
        except Exception as exc:
            if not (is_disk_full(exc) or self._nearly_full()):
                raise
            raise DiskFull(
                f"the disk holding the index is full ({exc}). What was stored is kept: free some space "
                "(or move NEWSRAG_HOME to a larger disk) and run the same command again to finish.",
                zh="索引所在磁盘已满：已写入的内容都保留着。请腾出空间（或把 NEWSRAG_HOME 移到更大的磁盘）后重新运行同一命令",
            ) from None

    # --- what the archive holds -----------------------------------------------------

    def issues(self, date_from: str | None = None, date_to: str | None = None, paper: str | None = None) -> list[IssueSummary]:
        """Every issue in the archive, newest first (see ``Catalogue.issues``)."""
        return self.catalogue.issues(date_from, date_to, paper)

    def newest_date(self) -> date | None:
        """The newest issue date in the archive, or None when no article has one."""
        return self.catalogue.newest_date()

    def pages(self) -> list[int]:
        """Every page number the archive holds, ascending."""
        return self.catalogue.page_numbers()

    def has_page_of_issue(self, page_key: str, page: int) -> bool:
        """Whether the archive holds page ``page`` of the issue that ``page_key`` (a page of it) belongs to."""
        key = PageKey.parse(page_key)
        return key.kind == "page" and self.catalogue.has_page(key.issue_prefix, page)

    def windows(self, article_id: str, with_text: bool = True) -> list[Hit]:
        """The stored chunks of one article, in reading order."""
        ids = self.catalogue.chunk_ids_of([article_id]).get(article_id, [])
        return sorted(self.store.get(ids, with_text=with_text), key=lambda h: h.chunk_index)

    def article(self, article_id: str) -> tuple[Hit, str] | None:
        """The first chunk of an article (for its metadata) and its whole text."""
        hits = self.windows(article_id)
        if not hits:
            return None
        return hits[0], join_windows([h.text for h in hits])

    def story(self, article_id: str) -> list[tuple[Hit, str]]:
        """A story continued across pages, in reading order: (first chunk, text) of each of its
        segments, given any of them; one element for an article on one page."""
        parts = [self.article(a.article_id) for a in self.catalogue.story(article_id)]
        return [p for p in parts if p is not None]

    def entry(self, article_id: str) -> ArticleEntry | None:
        """An article as the catalogue holds it (no text)."""
        return self.catalogue.article(article_id)

    # --- consistency ----------------------------------------------------------------

    def sync(self) -> tuple[int, int]:
        """Make the keyword index and the catalogue hold exactly the vector store's chunks
        (a catalogue of an older layout is rebuilt).

        Returns:
            (chunks added to either, chunks removed from either).
        """
        want = self.store.all_ids()
        have = self.keyword.ids()
        k_missing, k_extra = sorted(want - have), sorted(have - want)
        for i in range(0, len(k_missing), 500):
            self.keyword.add([chunk_of_hit(h) for h in self.store.get(k_missing[i : i + 500])])
        self.keyword.delete(k_extra)
        if self.catalogue.layout() != CATALOGUE_LAYOUT and not self.catalogue.upgrade():
            if want:
                log.warning("building the archive's catalogue of issues, articles and names from its %d chunks "
                            "(once; about 1 minute per 10,000 chunks)", len(want))
            self.catalogue.clear()
        have = self.catalogue.chunk_ids()
        c_missing, c_extra = want - have, sorted(have - want)
        self.catalogue.delete(c_extra)
        self._catalogue_articles(c_missing, everything=not have)
        self.catalogue.mark_current()
        if k_missing or k_extra or c_missing or c_extra:
            log.info("keyword index synced: %d added, %d removed; catalogue: %d added, %d removed",
                     len(k_missing), len(k_extra), len(c_missing), len(c_extra))
        return len(k_missing) + len(c_missing), len(k_extra) + len(c_extra)

    def _catalogue_articles(self, chunk_ids: set[str], everything: bool) -> None:
        """Catalogue the articles of these stored chunks, each with its whole length."""
        if not chunk_ids:
            return
        if everything:
            by_article = _by_article(self.store.find())
        else:
            ids = sorted(chunk_ids)
            articles = sorted({h.article_id for i in range(0, len(ids), 500)
                               for h in self.store.get(ids[i : i + 500], with_text=False)})
            by_article = {}
            for i in range(0, len(articles), 200):
                by_article.update(_by_article(self.store.find(Lookup(article_ids=tuple(articles[i : i + 200])))))
        batch: list[Chunk] = []
        for hits in by_article.values():
            chars = len(join_windows([h.text for h in hits]))
            batch += [replace(c, metadata={**c.metadata, "article_chars": chars}) for c in map(chunk_of_hit, hits)]
            if len(batch) >= 2000:
                self.catalogue.add(batch)
                batch = []
        self.catalogue.add(batch)

    def upgrade(self, notice: Callable[[str], None] | None = None) -> int:
        """Bring an index of an older layout to ``LAYOUT``, once (when opened for writing).

        Layout 1 keyed JSONL articles ``doc:<source id>``; they are re-keyed
        ``doc:<article id>`` in place (their vectors are kept). Returns how many chunks moved.
        """
        if self.read_only or self.store.layout() >= LAYOUT:
            return 0
        if self.store.count() == 0:
            self.store.set_layout(LAYOUT)
            return 0
        t0 = time.perf_counter()
        moved: list[Chunk] = []
        for a in self.catalogue.docs_keyed_otherwise():
            new_key = str(PageKey.of_doc(a.article_id))
            hits = self.windows(a.article_id)
            chars = len(join_windows([h.text for h in hits]))
            moved += [replace(c, page_key=new_key, metadata={**c.metadata, "article_chars": chars})
                      for c in map(chunk_of_hit, hits)]
        lost = self.rewrite(moved)
        if lost:  # vectors gone meanwhile: dropped here, re-embedded by the next ingest of their file
            self.delete([c.chunk_id for c in lost])
        self.catalogue.prune()
        self.store.set_layout(LAYOUT)
        message = (f"index upgraded to layout {LAYOUT} in {time.perf_counter() - t0:.1f} s "
                   f"({len(moved)} chunks of JSONL articles re-keyed by article id)")
        log.warning(message)
        if notice:
            notice(f"索引已升级到新版格式 ({message})")
        return len(moved)


def _by_article(hits: Iterable[Hit]) -> dict[str, list[Hit]]:
    out: dict[str, list[Hit]] = {}
    for h in hits:
        out.setdefault(h.article_id, []).append(h)
    for v in out.values():
        v.sort(key=lambda h: h.chunk_index)
    return out


def open_keyword_index(settings: Settings) -> KeywordIndex:
    """The keyword index: in PostgreSQL when NEWSRAG_KEYWORD_URL is set (shared by every
    replica), else SQLite at ``NEWSRAG_HOME/keyword.sqlite``.

    Raises:
        StoreUnavailable: the PostgreSQL server cannot be reached or refuses the login.
    """
    if settings.keyword_url:
        try:
            return PostgresKeywordIndex(settings.keyword_url, settings.collection)
        except Exception as exc:  # psycopg.OperationalError and friends; the URL may hold a password
            where = _without_password(settings.keyword_url)
            raise StoreUnavailable(
                f"cannot open the keyword index in PostgreSQL at {where}: {str(exc).strip()}. "
                "Check that the server runs and the URL, or unset NEWSRAG_KEYWORD_URL for the SQLite index.",
                zh=f"无法连接关键词索引数据库 {where}：请确认 PostgreSQL 已启动、地址和账号正确，或取消 NEWSRAG_KEYWORD_URL 改用本地索引",
            ) from None
    path = _keyword_path(settings)
    try:
        if settings.home.exists() and not os.access(path if path.exists() else settings.home, os.W_OK):
            # a read-only disk or mount: searched from a copy in memory, nothing written
            return KeywordIndex.copy_of(path) if path.exists() else KeywordIndex(":memory:")
        settings.home.mkdir(parents=True, exist_ok=True)
        return KeywordIndex(path)
    except sqlite3.DatabaseError as exc:
        raise _keyword_unreadable(path, exc) from None


def _keyword_path(settings: Settings) -> Path:
    suffix = "" if settings.collection == "newsrag" else f"-{settings.collection}"
    return settings.home / f"keyword{suffix}.sqlite"


def _check_keyword_file(settings: Settings) -> None:
    """Refuse a damaged keyword.sqlite before anything else of the index is opened."""
    path = _keyword_path(settings)
    if settings.keyword_url or not path.exists():
        return
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "readonly" in str(exc):  # a journal left by a killed writer: recovered when opened to write
            return
        raise _keyword_unreadable(path, exc) from None


def _keyword_unreadable(path: Path, exc: Exception) -> IndexUnreadable:
    return IndexUnreadable(
        f"the keyword index {path} is damaged or not newsrag's ({exc}). Nothing was changed. Move it away: "
        "newsrag rebuilds it from the vector store at the next start.",
        zh=f"关键词索引 {path} 已损坏或不是 newsrag 的文件（未做任何改动）。请把它移走，下次启动时会从向量库重建",
    )


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(url)
    if u.password is None:
        return url
    netloc = f"{u.username}:***@{u.hostname}" + (f":{u.port}" if u.port else "")
    return urlunsplit(u._replace(netloc=netloc))


def open_archive(settings: Settings, embedder: Embedder | str, create: bool = True,
                 notice: Callable[[str], None] | None = None) -> Archive:
    """Open the vector store, its keyword index and its catalogue (``NEWSRAG_HOME/keyword.sqlite``).

    ``embedder`` is the Embedder that will write and query it, or just its name. An existing
    index keeps the run-time form it was built with: with ``NEWSRAG_EMBEDDER_FORM=auto`` the
    embedder switches to it (before its model loads); a different explicit form is refused.
    Opened for writing (``create``), an index of an older layout is upgraded once (``notice``
    is told, with the time it took). The keyword index and the catalogue are repaired from the
    vector store when they differ from it (an interrupted run) or are missing.

    Raises:
        EmbedderMismatch: the index was built with another embedder or, explicitly, another form.
    """
    name, form = (embedder, "") if isinstance(embedder, str) else (embedder.name, embedder.form)
    _check_keyword_file(settings)
    store = open_store(settings, name, create=create, embedder_form=form)
    if form and store.embedder_form and store.embedder_form != form and not isinstance(embedder, str):
        if settings.embedder_form != "auto":
            raise EmbedderMismatch(
                f"the index at {settings.chroma_url or settings.home} was built with the embedder in "
                f"{store.embedder_form}, but NEWSRAG_EMBEDDER_FORM={settings.embedder_form}. Set it to "
                f"{store.embedder_form} or auto, or point NEWSRAG_HOME at a new folder and ingest again.",
                zh=f"索引是用 {store.embedder_form} 形式的嵌入模型建的，与 NEWSRAG_EMBEDDER_FORM={settings.embedder_form} "
                   f"不一致：请改成 {store.embedder_form} 或 auto，或换一个 NEWSRAG_HOME 重新导入",
            )
        log.info("the index was built in %s; the embedder follows it", store.embedder_form)
        embedder.use_form(store.embedder_form)
    keyword = open_keyword_index(settings)
    archive = Archive(store, keyword, Catalogue(keyword.db, entities=names_in), home=None if settings.chroma_url else settings.home)
    n = store.count()
    # (a read-only index's keyword copy and catalogue are in memory)
    if keyword.count() != n or archive.catalogue.count() != n or archive.catalogue.layout() != CATALOGUE_LAYOUT:
        archive.sync()
    if create:
        archive.upgrade(notice)
    return archive




@contextmanager
def writer_lock(settings: Settings, role: str, wait: bool = True, notice=None):
    """Hold the embedded index for writing: one writing process at a time.

    Embedded Chroma keeps its vector index in the memory of the process that opened it, and two
    processes writing one folder lose each other's vectors (measured: 2,028 chunks stored, 1,964
    found). So ``newsrag ingest`` and ``newsrag serve`` (which writes on upload) hold this lock:
    a second ingest waits for the first (``notice`` is told once), anything else is refused
    with a message naming the holder. Readers (search, ask) need no lock. With a Chroma server
    (NEWSRAG_CHROMA_URL) the server orders the writes and this is a no-op.

    Raises:
        IndexBusy: the holder is not a finishing ingest, or ``wait`` is False.
    """
    import fcntl
    import json
    import time

    if settings.chroma_url or (settings.home.exists() and not os.access(settings.home, os.W_OK)):
        yield  # a server orders its writers; a read-only index refuses writes by itself (IndexReadOnly)
        return
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / "writer.lock"
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the context
    try:
        told = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                fh.seek(0)
                try:
                    holder = json.loads(fh.read() or "{}")
                except ValueError:
                    holder = {}
                who = f"newsrag {holder.get('role', '?')}, PID {holder.get('pid', '?')}"
                if not (wait and holder.get("role") == "ingest" and role == "ingest"):
                    raise IndexBusy(
                        f"another process ({who}) is writing to the index at {settings.home}. Embedded Chroma has one "
                        "writer at a time: upload through that app's 档案管理 tab, wait for it or stop it, or run a "
                        "Chroma server (NEWSRAG_CHROMA_URL) for several writers.",
                        zh=f"另一个进程（{who}）正在写入索引 {settings.home}：请在该应用的「档案管理」页上传，"
                           "或等它结束、停止它，或改用 Chroma 服务模式（NEWSRAG_CHROMA_URL）",
                    ) from None
                if notice and not told:
                    notice(f"等待另一个导入（{who}）结束 (waiting for another ingest to finish)")
                    told = True
                time.sleep(0.5)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "role": role, "since": time.time()}))
        fh.flush()
        yield
    finally:
        fh.close()  # releases the lock
