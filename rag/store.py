"""Chunk stores: the interface, Chroma (embedded or server) and an in-memory store.

Embeddings are always passed in explicitly; Chroma's default embedding
function (which downloads a model) is never used. The embedder that built a
collection is recorded in its metadata and checked on every open.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import EmbedderMismatch, IndexMissing, IndexReadOnly, IndexUnreadable, NewsragError, StoreUnavailable
from rag.records import Chunk, Hit, IssueDate, Place
from rag.settings import Settings

__all__ = ["ChunkStore", "InMemoryStore", "ChromaStore", "open_store", "chunk_metadata", "place_metadata", "place_from_metadata", "Where"]

Where = dict[str, Any]

_NO_INDEX_ZH = "还没有索引：请先运行 newsrag ingest 导入报纸版面"


def chunk_metadata(c: Chunk) -> dict[str, Any]:
    """Flat metadata for a chunk; absent values are left out (Chroma has no null)."""
    md: dict[str, Any] = {
        "article_id": c.article_id,
        "source_id": c.source_id,
        "page_key": c.page_key,
        "chunk_index": c.index,
        "title": c.title,
        "paper": c.paper,
        "date": c.date.iso,
        "date_not_before": c.date.not_before,
        "date_not_after": c.date.not_after,
        "byline": c.byline,
        "headline": c.metadata.get("headline", c.title),
        "source": c.metadata.get("source", ""),
    }
    if c.date.iso:
        md["date_int"] = int(c.date.iso.replace("-", ""))
    if c.page is not None:
        md["page"] = c.page
    if c.continues_on_page is not None:
        md["continues_on_page"] = c.continues_on_page
    for k in ("story_id", "segment_id", "jump_head", "continued_from_page"):
        if c.metadata.get(k) not in (None, ""):
            md[k] = c.metadata[k]
    place = c.metadata.get("place")
    if place is not None:
        md.update(place_metadata(place))
    return md


def _box_str(box) -> str:
    return ",".join(f"{v:.1f}" for v in box) if box else ""


def place_metadata(place: Place) -> dict[str, Any]:
    """A Place as flat metadata values (Chroma keeps scalars only)."""
    return {
        "page_image": place.image,
        "page_size": _box_str(place.size),
        "region": _box_str(place.region),
        "bbox": _box_str(place.box),
        "lines": json.dumps([[s, e, *[round(v, 1) for v in b]] for s, e, b in place.lines], separators=(",", ":")),
    }


def _box(value: str):
    try:
        parts = tuple(float(v) for v in value.split(",")) if value else ()
    except ValueError:
        return None
    return parts if len(parts) in (2, 4) else None


def place_from_metadata(md: dict[str, Any]) -> Place | None:
    """The Place stored by ``place_metadata``, or None for text pages (or unreadable values)."""
    if not md.get("bbox") and not md.get("page_image"):
        return None
    try:
        lines = tuple((int(r[0]), int(r[1]), tuple(float(v) for v in r[2:6])) for r in json.loads(md.get("lines") or "[]"))
    except (ValueError, TypeError, IndexError):
        lines = ()
    return Place(image=md.get("page_image", ""), size=_box(md.get("page_size", "")) or (0.0, 0.0),
                 region=_box(md.get("region", "")), box=_box(md.get("bbox", "")), lines=lines)


def _hit(chunk_id: str, text: str, md: dict[str, Any], score: float) -> Hit:
    return Hit(
        chunk_id=chunk_id,
        article_id=md.get("article_id", ""),
        source_id=md.get("source_id", ""),
        title=md.get("title", ""),
        paper=md.get("paper", ""),
        date=IssueDate(md.get("date", ""), md.get("date_not_before", ""), md.get("date_not_after", "")),
        page=md.get("page"),
        text=text,
        score=score,
        byline=md.get("byline", ""),
        continues_on_page=md.get("continues_on_page"),
        headline=md.get("headline", ""),
        chunk_index=md.get("chunk_index", 0),
        page_key=md.get("page_key", ""),
        source=md.get("source", ""),
        place=place_from_metadata(md),
        story_id=md.get("story_id", ""),
        continued_from_page=md.get("continued_from_page"),
        segment_id=md.get("segment_id", ""),
        jump_head=md.get("jump_head", ""),
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
    def ids_by_page(self, page_keys: Sequence[str]) -> dict[str, set[str]]:
        """Chunk ids currently stored for each page key (keys with none are absent)."""

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
    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Stored chunks by id, in the order asked (unknown ids left out), score 0."""

    @abstractmethod
    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of the given chunks (unknown ids are left out)."""

    @abstractmethod
    def query(self, embedding: np.ndarray, k: int, where: Where | None = None) -> list[Hit]:
        """Nearest chunks by cosine similarity, best first; ``where`` is a Chroma-style filter."""

    @abstractmethod
    def find(self, where: Where | None = None, with_text: bool = True) -> list[Hit]:
        """Every chunk matching ``where`` (all when None), in no particular order, score 0.

        ``with_text=False`` leaves ``text`` empty: listing pages needs only metadata.
        """


class InMemoryStore(ChunkStore):
    """A dict and a matrix; for tests and throwaway indexes."""

    def __init__(self, embedder_name: str = "fake", embedder_form: str = "") -> None:
        self.embedder_name = embedder_name
        self.embedder_form = embedder_form
        self._rows: dict[str, tuple[str, dict[str, Any], np.ndarray]] = {}

    def ids_by_page(self, page_keys: Sequence[str]) -> dict[str, set[str]]:
        wanted = set(page_keys)
        out: dict[str, set[str]] = {}
        for cid, (_, md, _) in self._rows.items():
            if md["page_key"] in wanted:
                out.setdefault(md["page_key"], set()).add(cid)
        return out

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

    def get(self, ids: Sequence[str]) -> list[Hit]:
        return [_hit(i, self._rows[i][0], self._rows[i][1], 0.0) for i in ids if i in self._rows]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {i: self._rows[i][2] for i in ids if i in self._rows}

    def query(self, embedding: np.ndarray, k: int, where: Where | None = None) -> list[Hit]:
        rows = [(cid, r) for cid, r in self._rows.items() if _matches(r[1], where)]
        if not rows:
            return []
        mat = np.stack([r[2] for _, r in rows])
        scores = mat @ np.asarray(embedding, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return [_hit(rows[i][0], rows[i][1][0], rows[i][1][1], float(scores[i])) for i in order]

    def find(self, where: Where | None = None, with_text: bool = True) -> list[Hit]:
        return [_hit(cid, r[0] if with_text else "", r[1], 0.0) for cid, r in self._rows.items() if _matches(r[1], where)]


_OPS = {
    "$eq": lambda v, a: v == a,
    "$ne": lambda v, a: v != a,
    "$in": lambda v, a: v in a,
    "$nin": lambda v, a: v not in a,
    "$gte": lambda v, a: v is not None and v >= a,
    "$lte": lambda v, a: v is not None and v <= a,
    "$gt": lambda v, a: v is not None and v > a,
    "$lt": lambda v, a: v is not None and v < a,
}


def _matches(md: dict[str, Any], where: Where | None) -> bool:
    """Evaluate the subset of Chroma's filter language newsrag uses."""
    if not where:
        return True
    for key, cond in where.items():
        if key == "$and":
            if not all(_matches(md, w) for w in cond):
                return False
            continue
        if key == "$or":
            if not any(_matches(md, w) for w in cond):
                return False
            continue
        val = md.get(key)
        ops = cond if isinstance(cond, dict) else {"$eq": cond}
        if not all(_OPS[op](val, arg) for op, arg in ops.items()):
            return False
    return True


class ChromaStore(ChunkStore):
    """A Chroma collection, embedded (PersistentClient) or on a server (HttpClient)."""

    _BATCH = 500

    def __init__(self, client: Any, collection: str, embedder_name: str, create: bool = True, where: str = "",
                 embedder_form: str = "", read_only: bool = False) -> None:
        self.embedder_name = embedder_name
        self.embedder_form = embedder_form
        self.read_only = read_only
        self._where = where
        try:
            existing = {c.name if hasattr(c, "name") else c for c in client.list_collections()}
        except Exception as exc:  # connection errors come in many types
            raise StoreUnavailable(f"cannot reach the Chroma store at {where}: {exc}", zh=f"无法打开向量库 {where}") from exc
        if collection not in existing and not create:
            raise IndexMissing(f"no index at {where}: run `newsrag ingest` first", zh=_NO_INDEX_ZH)
        from chromadb.errors import NotFoundError

        # get-or-create in one call: two writers starting at once against one server both get the
        # collection the first created (a list-then-create would fail the second); the metadata
        # given here is ignored when it already exists, so it is checked below either way
        try:
            col = client.get_or_create_collection(
                collection,
                embedding_function=None,
                metadata={"embedder": embedder_name, **({"embedder_form": embedder_form} if embedder_form else {})},
                configuration={"hnsw": {"space": "cosine"}},
            ) if create else client.get_collection(collection, embedding_function=None)
        except NotFoundError as exc:  # deleted since it was listed
            raise IndexMissing(f"no index at {where}: run `newsrag ingest` first", zh=_NO_INDEX_ZH) from exc
        built_with = (col.metadata or {}).get("embedder")
        if built_with != embedder_name:
            raise EmbedderMismatch(
                f"the index at {where} was built with embedder {built_with!r}, but "
                f"{embedder_name!r} is configured. Set NEWSRAG_EMBEDDER to match the index, "
                "or point NEWSRAG_HOME at a new folder and ingest again.",
                zh="索引与当前嵌入模型不一致：请把 NEWSRAG_EMBEDDER 设成建索引时用的模型，或换一个 NEWSRAG_HOME 重新导入",
            )
        # indexes from before forms were recorded were built in float32
        legacy = "float32" if embedder_name.startswith("sentence-transformers:") else embedder_form
        self.embedder_form = (col.metadata or {}).get("embedder_form") or legacy
        self._col = col

    def ids_by_page(self, page_keys: Sequence[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        keys = list(dict.fromkeys(page_keys))
        for i in range(0, len(keys), self._BATCH):
            part = keys[i : i + self._BATCH]
            got = self._col.get(where={"page_key": {"$in": part}}, include=["metadatas"])
            for cid, md in zip(got["ids"], got["metadatas"] or []):
                out.setdefault(md["page_key"], set()).add(cid)
        return out

    def check_writable(self) -> None:
        if self.read_only:
            raise IndexReadOnly(
                f"the index at {self._where} is on a read-only disk or mount: it can be searched and asked, "
                "not written. Ingest into a writable copy (point NEWSRAG_HOME at it), or remount it read-write.",
                zh=f"索引 {self._where} 在只读的磁盘或挂载上：可以检索和问答，不能导入或删除。"
                   "请把 NEWSRAG_HOME 指向可写的副本，或以读写方式重新挂载",
            )

    def add(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        self.check_writable()
        for i in range(0, len(chunks), self._BATCH):
            part = chunks[i : i + self._BATCH]
            self._col.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=np.asarray(embeddings[i : i + self._BATCH], dtype=np.float32),
                documents=[c.text for c in part],
                metadatas=[chunk_metadata(c) for c in part],
            )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.check_writable()
        for i in range(0, len(ids), self._BATCH):
            self._col.delete(ids=ids[i : i + self._BATCH])

    def count(self) -> int:
        return self._col.count()

    def all_ids(self) -> set[str]:
        out: set[str] = set()
        total = self.count()
        for off in range(0, total, 5000):
            out.update(self._col.get(include=[], limit=5000, offset=off)["ids"])
        return out

    def get(self, ids: Sequence[str]) -> list[Hit]:
        found: dict[str, Hit] = {}
        ids = list(ids)
        for i in range(0, len(ids), self._BATCH):
            got = self._col.get(ids=ids[i : i + self._BATCH], include=["documents", "metadatas"])
            for cid, doc, md in zip(got["ids"], got["documents"], got["metadatas"]):
                found[cid] = _hit(cid, doc, md, 0.0)
        return [found[i] for i in ids if i in found]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        ids = list(ids)
        for i in range(0, len(ids), self._BATCH):
            got = self._col.get(ids=ids[i : i + self._BATCH], include=["embeddings"])
            out.update((cid, np.asarray(v, dtype=np.float32)) for cid, v in zip(got["ids"], got["embeddings"]))
        return out

    def find(self, where: Where | None = None, with_text: bool = True) -> list[Hit]:
        include = ["documents", "metadatas"] if with_text else ["metadatas"]
        out: list[Hit] = []
        for off in range(0, self.count(), 5000):
            got = self._col.get(where=where or None, include=include, limit=5000, offset=off)
            docs = got["documents"] if with_text else [""] * len(got["ids"])
            out.extend(_hit(cid, doc, md, 0.0) for cid, doc, md in zip(got["ids"], docs, got["metadatas"]))
            if len(got["ids"]) < 5000:
                break
        return out

    def query(self, embedding: np.ndarray, k: int, where: Where | None = None) -> list[Hit]:
        n = self.count()
        if n == 0:
            return []
        res = self._col.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32)],
            n_results=min(k, n),
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        return [
            _hit(cid, doc, md, 1.0 - float(dist))
            for cid, doc, md, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
            )
        ]


def _unreachable_becomes_store_unavailable(cls):
    """A Chroma server that stops answering mid-run (connection refused or reset, a timeout)
    becomes StoreUnavailable with a clear message; the next call tries again, so the app and
    the CLI work again without a restart once the server is back."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def call(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except (NewsragError, ValueError, KeyError, TypeError):
                raise
            except Exception as exc:
                mod = type(exc).__module__
                if not (mod.startswith(("httpx", "httpcore")) or isinstance(exc, (ConnectionError, TimeoutError))):
                    raise
                raise StoreUnavailable(
                    f"the Chroma server at {self._where} does not answer ({type(exc).__name__}: {exc}). "
                    "Check that it runs; newsrag carries on by itself once it is back.",
                    zh=f"连不上向量库服务 {self._where}：请检查 Chroma 服务是否在运行，恢复后即可继续使用，无需重启",
                ) from None

        return call

    for name in ("ids_by_page", "add", "delete", "count", "all_ids", "get", "vectors", "find", "query"):
        setattr(cls, name, wrap(getattr(cls, name)))
    return cls


_unreachable_becomes_store_unavailable(ChromaStore)


def open_store(settings: Settings, embedder_name: str, create: bool = True, embedder_form: str = "") -> ChromaStore:
    """Open the configured Chroma store: a server if NEWSRAG_CHROMA_URL is set,
    else a PersistentClient under NEWSRAG_HOME. A new index records ``embedder_form``; an
    existing one reports its own as ``store.embedder_form``.

    Raises:
        IndexMissing: ``create`` is False and there is no index yet.
        EmbedderMismatch: the index was built with another embedder.
        StoreUnavailable: the server cannot be reached.
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
        raise IndexMissing(f"no index at {settings.home}: run `newsrag ingest` first", zh=_NO_INDEX_ZH)
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
