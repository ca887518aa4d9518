"""The Chroma backend, embedded (PersistentClient) or on a server (HttpClient).

The only module that speaks Chroma's filter language: typed lookups and SearchFilters are
translated here. The embedder that built a collection is recorded in its metadata and
checked on every open.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rag.errors import EmbedderMismatch, IndexMissing, IndexReadOnly, NewsragError, StoreUnavailable
from rag.filters import SearchFilters
from rag.records import Chunk, Hit
from rag.store.base import ChunkStore, Lookup
from rag.store.codec import chunk_metadata, hit_from_metadata

__all__ = ["ChromaStore", "NO_INDEX_ZH"]

NO_INDEX_ZH = "还没有索引：请先运行 newsrag ingest 导入报纸版面"
_LAYOUT = "newsrag_layout"  # collection metadata: the layout version of the stored chunks

Where = dict[str, Any]


def _filters_where(f: SearchFilters | None) -> list[Where]:
    if f is None:
        return []
    clauses: list[Where] = []
    if f.paper:
        clauses.append({"paper": f.paper})
    if f.page is not None:
        clauses.append({"page": f.page})
    if (lo := f.date_from_int) is not None:
        clauses.append({"date_int": {"$gte": lo}})
    if (hi := f.date_to_int) is not None:
        clauses.append({"date_int": {"$lte": hi}})
    return clauses


def _where(clauses: list[Where]) -> Where | None:
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _lookup_where(lookup: Lookup | None) -> Where | None:
    if lookup is None:
        return None
    clauses = _filters_where(lookup.filters)
    if lookup.page_keys:
        clauses.append({"page_key": {"$in": list(lookup.page_keys)}})
    if lookup.article_ids:
        clauses.append({"article_id": {"$in": list(lookup.article_ids)}})
    if lookup.story_id:
        clauses.append({"story_id": lookup.story_id})
    return _where(clauses)


def _reachable(fn):
    """A Chroma server that stops answering mid-run (connection refused or reset, a timeout)
    becomes StoreUnavailable with a clear message; the next call tries again, so the app and
    the CLI work again without a restart once the server is back."""

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


class ChromaStore(ChunkStore):
    """A Chroma collection, embedded (PersistentClient) or on a server (HttpClient)."""

    _BATCH = 500
    _PAGE = 5000

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
            raise IndexMissing(f"no index at {where}: run `newsrag ingest` first", zh=NO_INDEX_ZH)
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
            raise IndexMissing(f"no index at {where}: run `newsrag ingest` first", zh=NO_INDEX_ZH) from exc
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

    def check_writable(self) -> None:
        if self.read_only:
            raise IndexReadOnly(
                f"the index at {self._where} is on a read-only disk or mount: it can be searched and asked, "
                "not written. Ingest into a writable copy (point NEWSRAG_HOME at it), or remount it read-write.",
                zh=f"索引 {self._where} 在只读的磁盘或挂载上：可以检索和问答，不能导入或删除。"
                   "请把 NEWSRAG_HOME 指向可写的副本，或以读写方式重新挂载",
            )

    @_reachable
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

    @_reachable
    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.check_writable()
        for i in range(0, len(ids), self._BATCH):
            self._col.delete(ids=ids[i : i + self._BATCH])

    @_reachable
    def count(self) -> int:
        return self._col.count()

    @_reachable
    def all_ids(self) -> set[str]:
        out: set[str] = set()
        for off in range(0, self._col.count(), self._PAGE):
            out.update(self._col.get(include=[], limit=self._PAGE, offset=off)["ids"])
        return out

    @_reachable
    def get(self, ids: Sequence[str], with_text: bool = True) -> list[Hit]:
        found: dict[str, Hit] = {}
        ids = list(ids)
        unique = list(dict.fromkeys(ids))  # Chroma refuses an id asked twice
        include = ["documents", "metadatas"] if with_text else ["metadatas"]
        for i in range(0, len(unique), self._BATCH):
            got = self._col.get(ids=unique[i : i + self._BATCH], include=include)
            docs = got["documents"] if with_text else [""] * len(got["ids"])
            for cid, doc, md in zip(got["ids"], docs, got["metadatas"]):
                found[cid] = hit_from_metadata(cid, doc, md, 0.0)
        return [found[i] for i in ids if i in found]

    @_reachable
    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), self._BATCH):
            got = self._col.get(ids=ids[i : i + self._BATCH], include=["embeddings"])
            out.update((cid, np.asarray(v, dtype=np.float32)) for cid, v in zip(got["ids"], got["embeddings"]))
        return out

    @_reachable
    def find(self, lookup: Lookup | None = None, with_text: bool = True) -> list[Hit]:
        if lookup is not None and len(lookup.page_keys) + len(lookup.article_ids) > self._BATCH:
            # Chroma's $in takes a bounded list: split the longer one
            field = "page_keys" if len(lookup.page_keys) > len(lookup.article_ids) else "article_ids"
            values = getattr(lookup, field)
            out: list[Hit] = []
            for i in range(0, len(values), self._BATCH):
                out.extend(self.find(Lookup(**{**lookup.__dict__, field: values[i : i + self._BATCH]}), with_text))
            return out
        include = ["documents", "metadatas"] if with_text else ["metadatas"]
        where = _lookup_where(lookup)
        out = []
        off = 0
        while True:
            got = self._col.get(where=where, include=include, limit=self._PAGE, offset=off)
            docs = got["documents"] if with_text else [""] * len(got["ids"])
            out.extend(hit_from_metadata(cid, doc, md, 0.0) for cid, doc, md in zip(got["ids"], docs, got["metadatas"]))
            if len(got["ids"]) < self._PAGE:
                return out
            off += self._PAGE

    @_reachable
    def query(self, embedding: np.ndarray, k: int, filters: SearchFilters | None = None) -> list[Hit]:
        n = self._col.count()
        if n == 0:
            return []
        res = self._col.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32)],
            n_results=min(k, n),
            where=_where(_filters_where(filters)),
            include=["documents", "metadatas", "distances"],
        )
        return [
            hit_from_metadata(cid, doc, md, 1.0 - float(dist))
            for cid, doc, md, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
        ]

    @_reachable
    def layout(self) -> int:
        return int((self._col.metadata or {}).get(_LAYOUT, 0))

    @_reachable
    def set_layout(self, version: int) -> None:
        self.check_writable()
        # Chroma replaces a collection's metadata on modify: keep what it holds
        # (and Chroma before 0.6 kept "hnsw:*" settings there, which modify refuses to repeat)
        kept = {k: v for k, v in (self._col.metadata or {}).items() if not k.startswith("hnsw:")}
        self._col.modify(metadata={**kept, _LAYOUT: int(version)})
