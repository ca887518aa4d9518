"""The archive: the vector store and the keyword index, kept consistent.

Every add and delete goes to both. An interrupted run can leave them apart
(the vector store is written first); ``sync`` repairs that from the vector
store's own documents, and ``open_archive`` runs it whenever the counts differ.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np

from rag.embedding import Embedder
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
from rag.records import DOC_KEY, PAGE_KEY, Chunk, Hit, IssueDate, IssueSummary, join_windows
from rag.settings import Settings
from rag.store import ChunkStore, Where, open_store

__all__ = ["Archive", "open_archive", "open_keyword_index", "writer_lock"]

log = logging.getLogger(__name__)


def _chunk_from_hit(h: Hit) -> Chunk:
    return Chunk(
        chunk_id=h.chunk_id,
        article_id=h.article_id,
        source_id=h.source_id,
        page_key="",
        index=h.chunk_index,
        text=h.text,
        embed_text=f"{h.headline}\n{h.text}" if h.headline else h.text,
        title=h.title,
        paper=h.paper,
        date=h.date,
        page=h.page,
    )


class Archive(ChunkStore):
    """A ChunkStore that also maintains a KeywordIndex over the same chunks."""

    def __init__(self, store: ChunkStore, keyword: KeywordIndex, home: Path | None = None) -> None:
        self.store = store
        self.keyword = keyword
        self.home = home  # the folder the index writes to, when it is on this machine
        self.embedder_name = store.embedder_name

    @property
    def read_only(self) -> bool:  # type: ignore[override]
        return self.store.read_only

    def check_writable(self) -> None:
        self.store.check_writable()

    def ids_by_page(self, page_keys: Sequence[str]) -> dict[str, set[str]]:
        return self.store.ids_by_page(page_keys)

    def add(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        with self._space():
            self.store.add(chunks, embeddings)
            self.keyword.add(chunks)

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        with self._space():
            self.store.delete(ids)
            self.keyword.delete(ids)

    def _nearly_full(self) -> bool:
        """Chroma words a full disk as a failed compaction: look at the disk itself."""
        import shutil

        try:
            return self.home is not None and shutil.disk_usage(self.home).free < 8 * 2**20
        except OSError:
            return False

    @contextmanager
    def _space(self):
        """A full disk mid-write becomes DiskFull; the vector store and the keyword index may
        then differ by that one batch, which ``sync`` repairs at the next open."""
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

    def delete_pages(self, page_keys: Sequence[str]) -> int:
        """Remove every chunk of the given pages; returns how many were removed."""
        ids = [i for s in self.store.ids_by_page(page_keys).values() for i in s]
        self.delete(ids)
        return len(ids)

    def count(self) -> int:
        return self.store.count()

    def all_ids(self) -> set[str]:
        return self.store.all_ids()

    def get(self, ids: Sequence[str]) -> list[Hit]:
        return self.store.get(ids)

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return self.store.vectors(ids)

    def query(self, embedding: np.ndarray, k: int, where: Where | None = None) -> list[Hit]:
        return self.store.query(embedding, k, where)

    def find(self, where: Where | None = None, with_text: bool = True) -> list[Hit]:
        return self.store.find(where, with_text)

    # --- what the archive holds ---------------------------------------------------------

    def issues(self) -> list[IssueSummary]:
        """Every issue in the archive, newest first."""
        groups: dict[str, list[Hit]] = {}
        for h in self.store.find(with_text=False):
            groups.setdefault(_issue_key(h), []).append(h)
        out = []
        for key, hits in groups.items():
            first = hits[0]
            out.append(IssueSummary(
                key=key,
                paper=first.paper,
                date=first.date,
                pages=tuple(sorted({h.page for h in hits if h.page is not None})),
                articles=len({h.article_id for h in hits}),
                chunks=len(hits),
                page_keys=tuple(sorted({h.page_key for h in hits})),
            ))
        return sorted(out, key=lambda i: (i.date.iso or i.date.not_before, i.paper, i.key), reverse=True)

    def delete_issue(self, key: str) -> int:
        """Remove every chunk of one issue (a key from ``issues``); returns how many."""
        for issue in self.issues():
            if issue.key == key:
                return self.delete_pages(list(issue.page_keys))
        return 0

    def newest_date(self) -> date | None:
        """The newest issue date in the archive, or None when no chunk has one."""
        return self.keyword.newest_date()

    def pages(self) -> list[int]:
        """Every page number the archive holds, ascending."""
        return self.keyword.pages()

    def has_page_of_issue(self, page_key: str, page: int) -> bool:
        """Whether the archive holds page ``page`` of the issue that ``page_key`` (a page of it) belongs to."""
        if not page_key.startswith(PAGE_KEY):
            return False
        sibling = page_key.rsplit("/", 1)[0] + f"/{page}"
        return bool(self.store.ids_by_page([sibling]))

    def article(self, article_id: str) -> tuple[Hit, str] | None:
        """The first chunk of an article (for its metadata) and its whole text."""
        hits = sorted(self.store.find({"article_id": article_id}), key=lambda h: h.chunk_index)
        if not hits:
            return None
        return hits[0], join_windows([h.text for h in hits])

    def story(self, article_id: str) -> list[tuple[Hit, str]]:
        """A story continued across pages, in reading order: (first chunk, text) of each of its
        segments, given any of them; one element for an article on one page."""
        first = self.article(article_id)
        if first is None:
            return []
        story_id = first[0].story_id or article_id
        segments = {h.article_id for h in self.store.find({"story_id": story_id}, with_text=False)}
        parts = [self.article(story_id)] + [self.article(a) for a in sorted(segments)]
        return sorted((p for p in parts if p is not None), key=lambda p: (p[0].page or 0, p[0].article_id != story_id))

    def sync(self) -> tuple[int, int]:
        """Make the keyword index hold exactly the vector store's chunks.

        Returns:
            (chunks added to the keyword index, chunks removed from it).
        """
        have, want = self.keyword.ids(), self.store.all_ids()
        missing, extra = sorted(want - have), sorted(have - want)
        for i in range(0, len(missing), 500):
            self.keyword.add([_chunk_from_hit(h) for h in self.store.get(missing[i : i + 500])])
        self.keyword.delete(extra)
        if missing or extra:
            log.info("keyword index synced: %d added, %d removed", len(missing), len(extra))
        return len(missing), len(extra)


def _issue_key(h: Hit) -> str:
    if h.page_key.startswith(PAGE_KEY):
        return h.page_key.rsplit("/", 1)[0]
    if h.page_key.startswith(DOC_KEY):
        return f"{DOC_KEY}{h.paper}/{h.date.iso or h.date.not_before or IssueDate().label_zh()}"
    return h.page_key


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


def open_archive(settings: Settings, embedder: Embedder | str, create: bool = True) -> Archive:
    """Open the vector store and its keyword index (``NEWSRAG_HOME/keyword.sqlite``).

    ``embedder`` is the Embedder that will write and query it, or just its name. An existing
    index keeps the run-time form it was built with: with ``NEWSRAG_EMBEDDER_FORM=auto`` the
    embedder switches to it (before its model loads); a different explicit form is refused.

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
    archive = Archive(store, keyword, home=None if settings.chroma_url else settings.home)
    if keyword.count() != store.count():  # (a read-only index's keyword copy is in memory)
        archive.sync()
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
