"""The chunk store: its interface, the metadata codec, and the in-memory and Chroma backends.

Nothing outside this package speaks a backend's query language: callers use typed
lookups (``Lookup``) and ``SearchFilters``.
"""

from rag.store.base import ChunkStore, Lookup, chunk_of_hit
from rag.store.chroma import ChromaStore
from rag.store.codec import chunk_metadata, hit_from_metadata, place_from_metadata, place_metadata
from rag.store.memory import InMemoryStore
from rag.store.opening import check_chroma_folder, open_store

__all__ = [
    "ChunkStore",
    "ChromaStore",
    "InMemoryStore",
    "Lookup",
    "check_chroma_folder",
    "chunk_metadata",
    "chunk_of_hit",
    "hit_from_metadata",
    "open_store",
    "place_from_metadata",
    "place_metadata",
]
