"""The ``onnx-int8`` run-time form of a sentence-transformers embedder: a build made once by
``newsrag models fetch --form onnx-int8`` (rag/int8_build.py, the ``[int8]`` extra), checked and run
here with ONNX Runtime alone.

The build is the float32 model smoothed (SmoothQuant), exported to ONNX with its pooling and dense
layers and its weight matrices quantized to int8 (how and why: rag/int8_build.py). It records what
it made in a stamp; :func:`verified_onnx_dir` trusts a build only if it was made by this layout,
from this very model, is unchanged since, and holds the weights chosen for this CPU
(:func:`weight_kind`: signed int8 where the CPU has VNNI, unsigned elsewhere, where ONNX Runtime's
u8×s8 kernel would saturate). A build for the other kind of CPU is rebuilt, not used.

Running: :class:`OnnxSentenceModel` is the part of a ``SentenceTransformer`` that
:class:`rag.embedding.SentenceTransformerEmbedder` uses (``prompts``, ``encode``, the
dimension), on ONNX Runtime with the model's own tokenizer. Each text is its own run (so its
vector never depends on its neighbours), and the cores run texts side by side: one session, one
thread per run, one run per core. On 2 cores that is 1.3× the throughput of one run at a time
on two threads in one process (whose small matrices keep the threads waiting on each other),
1.15× through ``newsrag ingest``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from rag.cpu import has_vnni
from rag.model_files import stat_fingerprint

__all__ = ["FORM", "onnx_dir", "verified_onnx_dir", "weight_kind", "OnnxSentenceModel"]

FORM = "onnx-int8"
# what a build writes (rag/int8_build.py) and this module checks
_STAMP = ".newsrag-onnx.json"
_MODEL = "model.onnx"
_LAYOUT = 2  # bump when the build changes, so older builds are rebuilt


def onnx_dir(model_dir: Path) -> Path:
    """Where the ``onnx-int8`` build of the model in ``model_dir`` lives: next to it."""
    return model_dir.with_name(f"{model_dir.name}-{FORM}")


def _fingerprint(folder: Path) -> dict[str, list[int]]:
    return stat_fingerprint(folder, sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != _STAMP))


def weight_kind() -> str:
    """The int8 weights this CPU multiplies exactly: ``int8`` with VNNI, else ``uint8``."""
    return "int8" if has_vnni() else "uint8"


def verified_onnx_dir(model_dir: Path) -> Path | None:
    """The ``onnx-int8`` build of ``model_dir`` if it was built completely by this layout, from
    this very model, is unchanged since (sizes and times against the build's stamp) and holds
    the weights chosen for this CPU (:func:`weight_kind`)."""
    folder = onnx_dir(model_dir)
    try:
        stamp = json.loads((folder / _STAMP).read_text(encoding="utf-8"))
        if stamp.get("layout") != _LAYOUT or stamp.get("source") != _source_fingerprint(model_dir):
            return None
        if stamp.get("files") != _fingerprint(folder):
            return None
        if stamp.get("weights", "int8") != weight_kind():  # signed ones would saturate without VNNI
            return None
    except (OSError, ValueError):
        return None
    return folder


def _source_fingerprint(model_dir: Path) -> dict[str, list[int]]:
    return stat_fingerprint(model_dir, sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*.safetensors")))




class OnnxSentenceModel:
    """A built ``onnx-int8`` folder run with ONNX Runtime, encoding like ``SentenceTransformer.encode``:
    the prompt prepended to each text, the model's own tokenizer and maximum length, unit vectors out."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        """``threads``: runs side by side, one thread each (default: one per core this process may use)."""
        import onnxruntime as ort

        self.folder = Path(folder)
        self.threads = max(1, threads or _cores())
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = 1  # runs are concurrent instead (InferenceSession.run is thread-safe)
        opts.inter_op_num_threads = 1
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-embed") if self.threads > 1 else None
        self._session = ort.InferenceSession(str(self.folder / _MODEL), opts, providers=["CPUExecutionProvider"])
        self.prompts = _read_json(self.folder / "config_sentence_transformers.json").get("prompts", {}) or {}
        self.max_seq_length = int(_read_json(self.folder / "sentence_bert_config.json").get("max_seq_length") or 512)
        if _read_json(self.folder / _STAMP).get("plain_tokenizer"):
            from tokenizers import Tokenizer

            self._plain = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
            self._plain.no_padding()
            self._plain.enable_truncation(self.max_seq_length)
            self._full = None
        else:
            from transformers import AutoTokenizer

            self._plain, self._full = None, AutoTokenizer.from_pretrained(str(self.folder))
        self._dim = int(self._session.get_outputs()[0].shape[-1])

    def _ids(self, text: str) -> list[int]:
        if self._plain is not None:
            return self._plain.encode(text).ids
        return self._full(text, truncation="longest_first", max_length=self.max_seq_length)["input_ids"]

    def get_sentence_embedding_dimension(self) -> int:
        return self._dim

    def encode(self, sentences: Sequence[str], prompt_name: str | None = None, prompt: str | None = None,
               **_: object) -> np.ndarray:
        """Unit vectors of ``sentences``, each after the prompt. One text per run: the int8 model
        quantizes its activations with one scale per run, so a text batched with others (and
        their padding) would get a vector that depends on its neighbours. The runs go side by
        side on ``threads`` threads, longest text first so that the threads end together."""
        if prompt is None:
            prompt = self.prompts.get(prompt_name, "") if prompt_name else ""
        ids = [np.asarray([self._ids(prompt + s)], dtype=np.int64) for s in sentences]
        order = sorted(range(len(ids)), key=lambda i: -ids[i].shape[1])
        out = np.zeros((len(sentences), self._dim), dtype=np.float32)
        side_by_side = self._pool.map if self._pool is not None and len(ids) > 1 else map
        for i, vec in zip(order, side_by_side(self._run, (ids[i] for i in order)), strict=True):
            out[i] = vec
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def _run(self, ids: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
