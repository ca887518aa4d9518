"""Opening the configured Chroma store: a server, or an embedded folder checked before use."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from rag.errors import EmbedderMismatch, IndexMissing, IndexReadOnly, IndexUnreadable, StoreUnavailable
from rag.settings import Settings
from rag.store.chroma import NO_INDEX_ZH, ChromaStore

__all__ = ["open_store", "check_chroma_folder"]


def open_store(settings: Settings, embedder_name: str, create: bool = True, embedder_form: str = "") -> ChromaStore:
    """Open the configured Chroma store: a server if NEWSRAG_CHROMA_URL is set,
    else a PersistentClient under NEWSRAG_HOME. A new index records ``embedder_form``; an
    existing one reports its own as ``store.embedder_form``.

    Raises:
        IndexMissing: ``create`` is False and there is no index yet.
        EmbedderMismatch: the index was built with another embedder.
        StoreUnavailable: the server cannot be reached.
        IndexUnreadable: the folder's database is damaged or not Chroma's.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from chromadb.errors import ChromaError

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        u = urlparse(settings.chroma_url)
        try:
            client = chromadb.HttpClient(
                host=u.hostname or "127.0.0.1",
                port=u.port or (443 if u.scheme == "https" else 8000),
                ssl=u.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:
            raise StoreUnavailable(
                f"cannot reach the Chroma server at {settings.chroma_url}: {exc}. "
                "Start it with `chroma run --host 127.0.0.1 --port 8000` or unset NEWSRAG_CHROMA_URL.",
                zh=f"连不上 Chroma 向量库服务 {settings.chroma_url}：请先启动它，或取消 NEWSRAG_CHROMA_URL 改用本地索引",
            ) from exc
        try:
            return ChromaStore(client, settings.collection, embedder_name, create, where=settings.chroma_url,
                               embedder_form=embedder_form)
        except ChromaError as exc:  # the server answered, but with an error of its own
            raise StoreUnavailable(
                f"the Chroma server at {settings.chroma_url} refused to open collection {settings.collection!r}: {exc}",
                zh=f"Chroma 向量库服务 {settings.chroma_url} 打不开索引 {settings.collection}：请稍后重试，或查看该服务的日志",
            ) from exc
    path = Path(settings.home) / "chroma"
    if not create and not path.exists():
        raise IndexMissing(f"no index at {settings.home}: run `newsrag ingest` first", zh=NO_INDEX_ZH)
    check_chroma_folder(path)
    read_only = path.exists() and not os.access(path, os.W_OK)
    if read_only:
        # Chroma writes on open (its log and migrations), so a read-only index is opened
        # from a copy in a temp dir, and the store refuses writes
        path = _snapshot(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        return ChromaStore(client, settings.collection, embedder_name, create and not read_only,
                           where=str(settings.home), embedder_form=embedder_form, read_only=read_only)
    except (EmbedderMismatch, IndexMissing):
        raise
    except OSError as exc:
        if not os.access(path.parent, os.W_OK):
            raise IndexReadOnly(
                f"cannot create an index in {settings.home}: the disk or mount is read-only ({exc.strerror or exc})",
                zh=f"无法在 {settings.home} 建索引：磁盘或挂载是只读的，请把 NEWSRAG_HOME 指向可写的位置",
            ) from None
        raise
    except Exception as exc:  # chromadb's InternalError and friends
        raise _unreadable(settings.home, path / "chroma.sqlite3", exc) from None


def check_chroma_folder(path: Path) -> None:
    """Refuse, before Chroma touches it, a ``chroma/`` folder whose database is damaged or
    another program's (Chroma would otherwise migrate or overwrite it).

    Raises:
        IndexUnreadable: naming the file and what to do.
    """
    db = path / "chroma.sqlite3"
    if not db.exists():
        if path.exists() and any(path.iterdir()):
            raise _unreadable(path.parent, path, "the folder holds files but no chroma.sqlite3")
        return
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "readonly" in str(exc):  # a journal left by a killed writer: Chroma recovers it on open
            return
        raise _unreadable(path.parent, db, exc) from None
    if not tables:  # Chroma was killed while creating it: it creates its tables again on open
        return
    if not {"collections", "embeddings"} <= tables:
        raise _unreadable(path.parent, db, f"a SQLite database without Chroma's tables ({', '.join(sorted(tables)[:5]) or 'none'})")


def _unreadable(home: Path, file: Path, why: object) -> IndexUnreadable:
    return IndexUnreadable(
        f"the index at {home} cannot be read: {file} is damaged or not newsrag's ({why}). Nothing was changed. "
        "Restore it from a backup, or move it away and run `newsrag ingest` again, or point NEWSRAG_HOME elsewhere.",
        zh=f"索引 {home} 无法读取：{file} 已损坏或不是 newsrag 的索引（未做任何改动）。"
           "请从备份恢复，或把它移走后重新导入，或把 NEWSRAG_HOME 指向别处",
    )


def _snapshot(path: Path) -> Path:
    import atexit

    copy = Path(tempfile.mkdtemp(prefix="newsrag-readonly-")) / "chroma"
    atexit.register(shutil.rmtree, copy.parent, True)
    shutil.copytree(path, copy)
    return copy
