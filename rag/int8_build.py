"""The builder of the ``onnx-int8`` form (rag/onnx_form.py runs it): model-compression tooling
outside the everyday path. It needs the optional ``[int8]`` extra (onnxscript for torch.onnx's
exporter, onnx for the graph rewrite): ``pip install -e ".[int8]"``. Without it
:func:`build_onnx_int8` and :func:`require_int8_extra` raise :class:`~rag.errors.ModelNotAvailable`
with that hint; importing this module needs nothing beyond newsrag's own dependencies.

Building (``newsrag models fetch --form onnx-int8``): the float32 model is smoothed, exported to
ONNX with its pooling and dense layers (torch.onnx, dynamo), and its weight matrices quantized to
int8 with ONNX Runtime's dynamic quantization (per output channel; activations quantized per call).
Smoothing is SmoothQuant (Xiao et al., 2023) on gated MLPs such as EmbeddingGemma's: the
inputs of a down projection hold a few channels 100-700× their mean, which per-tensor int8
activations cannot carry, so each input channel ``j`` is divided by
``s_j = max|x_j|^α / max|W_j|^(1-α)`` (folded into the up projection, which makes it) and the
down projection's weights multiplied by it: the float32 model computes the same function, and
the int8 one loses less (min cosine to float32 0.968 → 0.985 on CRUD-RAG windows). The normed
inputs of the attention's q/k/v and of the MLP's gate/up projections are smoothed the same way,
the scale folded into their RMSNorm's gain (α 0.5).

The down projections' inputs also hold a few *tokens* 5-30× the others' largest value, which one
activation scale per run (ONNX Runtime's ``DynamicQuantizeLinear``) cannot carry either: there
each row (token) gets its own scale, ``max|x_row| / 127`` around a fixed zero point of 128, in a
few ONNX nodes written in place of that one (mean cosine to float32 0.992 → 0.998, bfloat16's).
The other inputs keep ONNX Runtime's fused per-run quantization: ~20% faster than
per-token everywhere and, measured, no less exact. Each RMSNorm is exported as one
``RMSNormalization`` node (opset 23), not seven: 25% faster.

The weights are signed int8 where the CPU has VNNI, whose u8×s8 dot products add up in 32 bits.
Elsewhere (AVX2, AVX-512 without VNNI) ONNX Runtime's u8×s8 kernel adds pairs of products in 16
bits, which saturate: the vectors drifted (min cosine to float32 0.979 on an AVX2 EPYC, 0.997
with VNNI), so there the weights are unsigned (u8×u8, exact, ~20% slower). The build records
which in its stamp (rag/onnx_form.py reads it).

The smoothing and export run in a spawned child process: the exporter keeps ~2 GB alive after it
returns, which ONNX Runtime's quantizer would add to (peak 6.2 → 4.7 GB for EmbeddingGemma).
Each step's measurements, and the variants rejected: bench/experiments/README.md.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rag.errors import ModelNotAvailable
from rag.onnx_form import (
    _LAYOUT,
    _MODEL,
    _STAMP,
    FORM,
    _fingerprint,
    _read_json,
    _source_fingerprint,
    onnx_dir,
    verified_onnx_dir,
    weight_kind,
)

__all__ = ["build_onnx_int8", "require_int8_extra", "CALIBRATION", "INSTALL_HINT"]

INSTALL_HINT = 'pip install -e ".[int8]"'
ALPHA = 0.75  # measured: 0.3 / 0.5 / 0.75 gave min cosine 0.964 / 0.984 / 0.985 (bench/experiments/README.md)
ALPHA_INPUTS = 0.5  # the normed inputs of q/k/v and gate/up (0.5 / 0.75: mean cosine 0.9922 / 0.9926)
_DATA = "model.onnx.data"
# the source folder's top-level files that are not weights (the tokenizer's files, its config, the
# prompts and the maximum length) are copied next to the ONNX model
_NOT_COPIED = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".ipynb", ".md")
_OPSET = 23  # the first with RMSNormalization (onnxruntime >= 1.22)

# Calibration passages for the smoothing scales: newspaper prose of our own, of the kinds the
# archive holds (local policy, economy, culture, sport, notices, numbers and Latin letters).
CALIBRATION = (
    "11月30日，区委组织部举行党建统领基层治理网格员技能大比武，11支代表队站上决赛擂台，比拼政策知识和入户走访技能。",
    "区人民政府办公室印发通知，自2024年1月1日起调整城乡居民基本医疗保险个人缴费标准，每人每年380元。",
    "据市统计局发布的数据，前三季度全市地区生产总值同比增长6.1%，规模以上工业增加值增长7.3%。",
    "解放碑步行街改造工程进入收尾阶段，施工单位表示，夜间施工将控制在22时前结束，减少对周边居民的影响。",
    "本报讯（记者 王晓）第十届社区运动会昨日开幕，来自全区的1200余名居民参加了跳绳、拔河和健步走等项目。",
    "天气预报：受冷空气影响，本周末我市将有一次明显降温过程，最低气温4℃，请市民注意添衣保暖。",
    "重庆市文化和旅游发展委员会公布了2023年度市级非物质文化遗产代表性项目名录，共有58个项目入选。",
    "为方便老年人就医，区中医院开设了“一站式”服务窗口，提供挂号、缴费、取药和医保报销咨询。",
    "City officials said the new metro line, Line 18, would open to passengers by the end of the year.",
    "12月1日，2023年宪法宣传周活动在人民广场启动，现场设置了普法咨询点，发放宣传资料3000余份。",
    "招聘启事：本单位因工作需要，面向社会公开招聘社区工作者20名，报名时间为12月5日至12月15日。",
    "专家指出，老旧小区加装电梯需要业主协商一致，街道和社区将提供政策咨询与审批指导。",
    "该区今年新增城镇就业岗位2.3万个，城镇调查失业率控制在5.5%以内，完成全年目标任务。",
    "足球联赛第28轮，主队凭借下半场的两粒进球以2比1逆转客队，积分升至联赛第三位。",
    "市场监管部门提醒消费者，网购时要保存好聊天记录和付款凭证，遇到纠纷可拨打12315投诉。",
    "渝中区图书馆推出“阅读进社区”活动，全年计划举办讲座、读书会和亲子阅读活动100场。",
)


def require_int8_extra() -> None:
    """Check that the packages only the build needs are installed.

    Raises:
        ModelNotAvailable: the ``[int8]`` extra (onnxscript, onnx) is missing; the message says
            how to install it.
    """
    try:
        import onnx  # noqa: F401  (the graph rewrite; ONNX Runtime's quantizer needs it too)
        import onnxruntime.quantization  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter)
    except ImportError as exc:
        raise ModelNotAvailable(
            f"building the {FORM} form needs the optional [int8] extra (onnxscript, onnx), which is not "
            f"installed ({exc}): install it with `{INSTALL_HINT}` in newsrag's folder and environment "
            "(`make test` does); the float32 and bfloat16 forms need nothing more",
            zh=f"构建 {FORM} 形式需要可选依赖 [int8]（onnxscript、onnx），尚未安装：请在 newsrag 目录下运行 "
               f"{INSTALL_HINT} 后重试",
        ) from exc


def _input_amax(model, modules: Sequence, texts: Sequence[str]) -> list:
    """The largest magnitude of each input channel of each of ``modules`` while ``model``
    encodes ``texts`` (SmoothQuant's calibration)."""
    import torch

    amax: dict[int, torch.Tensor] = {}

    def hook(i: int):
        def record(mod, inputs, output):
            x = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            amax[i] = torch.maximum(amax[i], x) if i in amax else x
        return record

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(modules)]
    try:
        with torch.no_grad():
            model.encode(list(texts), batch_size=4, show_progress_bar=False)
    finally:
        for h in handles:
            h.remove()
    return [amax[i] for i in range(len(modules))]


def _smooth_gated_mlps(model, texts: Sequence[str], prompt: str, alpha: float) -> int:
    """SmoothQuant each gated MLP (``down(act(gate(x)) * up(x))``) of the float32 model in place:
    the function it computes is unchanged. Returns how many were smoothed."""
    import torch

    mlps = [m for m in model.modules()
            if all(isinstance(getattr(m, n, None), torch.nn.Linear) for n in ("gate_proj", "up_proj", "down_proj"))]
    if not mlps:
        return 0
    amax = _input_amax(model, [m.down_proj for m in mlps], [prompt + t for t in texts])
    with torch.no_grad():
        for i, m in enumerate(mlps):
            w = m.down_proj.weight  # (out, in)
            s = (amax[i].clamp(min=1e-5) ** alpha / w.abs().amax(0).clamp(min=1e-5) ** (1 - alpha)).clamp(min=1e-5)
            m.down_proj.weight.mul_(s[None, :])
            m.up_proj.weight.div_(s[:, None])
    return len(mlps)


def _gain_is_one_plus(norm) -> bool:
    """Whether an RMSNorm scales by ``1 + weight`` (Gemma's) rather than by ``weight``: with the
    weight zeroed, the first still passes its input through."""
    import torch

    saved = norm.weight.detach().clone()
    try:
        with torch.no_grad():
            norm.weight.zero_()
            return bool(norm(torch.randn(2, saved.shape[0])).abs().max() > 1e-6)
    finally:
        with torch.no_grad():
            norm.weight.copy_(saved)


def _smooth_norm_inputs(model, texts: Sequence[str], prompt: str, alpha: float) -> int:
    """SmoothQuant the inputs of each decoder layer's q/k/v and gate/up projections, the scale
    folded into the RMSNorm that makes them (``input_layernorm``; ``pre_feedforward_layernorm``,
    else ``post_attention_layernorm``). Checked on the calibration texts: if the embeddings
    move (an architecture this does not know), every weight is put back and 0 returned."""
    import torch

    groups = []
    for layer in model.modules():
        attn, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
        pre_ff = getattr(layer, "pre_feedforward_layernorm", None) or getattr(layer, "post_attention_layernorm", None)
        lin = ([getattr(attn, n, None) for n in ("q_proj", "k_proj", "v_proj")],
               [getattr(mlp, n, None) for n in ("gate_proj", "up_proj")])
        norms = getattr(layer, "input_layernorm", None), pre_ff
        if all(isinstance(x, torch.nn.Linear) for x in (*lin[0], *lin[1])) and all(
                isinstance(getattr(n, "weight", None), torch.Tensor) for n in norms):
            groups += [(norms[0], lin[0]), (norms[1], lin[1])]
    if not groups:
        return 0
    probe = [prompt + t for t in texts[:4]]
    with torch.no_grad():
        before = model.encode(probe, batch_size=4, show_progress_bar=False, normalize_embeddings=True)
    amax = _input_amax(model, [lins[0] for _, lins in groups], [prompt + t for t in texts])
    saved = [(p, p.detach().clone()) for norm, lins in groups for p in (norm.weight, *(x.weight for x in lins))]
    with torch.no_grad():
        for i, (norm, lins) in enumerate(groups):
            w = torch.stack([x.weight.abs().amax(0) for x in lins]).amax(0)
            s = (amax[i].clamp(min=1e-5) ** alpha / w.clamp(min=1e-5) ** (1 - alpha)).clamp(min=1e-5)
            if _gain_is_one_plus(norm):
                norm.weight.copy_((1 + norm.weight) / s - 1)
            else:
                norm.weight.div_(s)
            for x in lins:
                x.weight.mul_(s[None, :])
        after = model.encode(probe, batch_size=4, show_progress_bar=False, normalize_embeddings=True)
        if float(np.min(np.sum(np.asarray(before) * np.asarray(after), axis=1))) < 0.9999:
            for p, v in saved:
                p.copy_(v)
            return 0
    return len(groups)


def _fuse_rms_norms(model) -> int:
    """Make each RMSNorm of the model compute ``torch.nn.functional.rms_norm``, which the
    exporter writes as one ONNX ``RMSNormalization`` node (opset 23) instead of seven: 25% more
    texts per second on 2 cores, the same vectors. Each is checked against its own forward on a
    random input and left as it was where they differ. Returns how many were changed."""
    import types

    import torch

    count = 0
    for norm in model.modules():
        eps = getattr(norm, "eps", getattr(norm, "variance_epsilon", None))
        weight = getattr(norm, "weight", None)
        if not type(norm).__name__.endswith("RMSNorm") or not isinstance(eps, float) or \
                not isinstance(weight, torch.Tensor) or weight.dim() != 1:
            continue
        one_plus = _gain_is_one_plus(norm)

        def forward(self, x, _one_plus=one_plus, _eps=eps):
            gain = (1.0 + self.weight) if _one_plus else self.weight
            return torch.nn.functional.rms_norm(x, (x.shape[-1],), weight=gain, eps=_eps)

        x = torch.randn(3, 5, weight.shape[0]) * 4
        with torch.no_grad():
            before = norm(x)
            norm.forward = types.MethodType(forward, norm)
            if before.shape == x.shape and torch.allclose(norm(x), before, rtol=1e-4, atol=1e-5):
                count += 1
            else:
                del norm.forward
    return count


def _quantize_per_token(path: Path, widths: set[int]) -> int:
    """Rewrite, in the int8 model at ``path``, each per-run activation quantization
    (``DynamicQuantizeLinear``) that feeds a weight matrix of ``widths`` input rows into one
    scale per row (token): ``max|x| / 127`` over the row, around the zero point 128. The nodes
    that follow (``MatMulInteger``, then the product of the two scales times the result)
    broadcast a scale of shape ``(…, rows, 1)`` as they did a scalar. Returns how many."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    rows = {i.name: i.dims[0] for i in graph.initializer if len(i.dims) == 2}
    feeds = {n.input[0] for n in graph.node if n.op_type == "MatMulInteger" and rows.get(n.input[1]) in widths}
    consts = {"newsrag_pt_axes": np.array([-1], np.int64), "newsrag_pt_eps": np.array(1e-12, np.float32),
              "newsrag_pt_127": np.array(127.0, np.float32), "newsrag_pt_128": np.array(128.0, np.float32),
              "newsrag_pt_zp": np.array(128, np.uint8)}
    nodes, count = [], 0
    for n in graph.node:
        if n.op_type != "DynamicQuantizeLinear" or n.output[0] not in feeds:
            nodes.append(n)
            continue
        x, (q, scale, zp), p = n.input[0], n.output, f"{n.name}_per_token_"
        nodes += [  # |x / scale| <= 127 by construction, so x / scale + 128 is in 1..255: no clip
            helper.make_node("Abs", [x], [p + "abs"]),
            helper.make_node("ReduceMax", [p + "abs", "newsrag_pt_axes"], [p + "amax"], keepdims=1),
            helper.make_node("Max", [p + "amax", "newsrag_pt_eps"], [p + "amax_eps"]),
            helper.make_node("Div", [p + "amax_eps", "newsrag_pt_127"], [scale]),
            helper.make_node("Div", [x, scale], [p + "scaled"]),
            helper.make_node("Round", [p + "scaled"], [p + "rounded"]),
            helper.make_node("Add", [p + "rounded", "newsrag_pt_128"], [p + "shifted"]),
            helper.make_node("Cast", [p + "shifted"], [q], to=TensorProto.UINT8),
            helper.make_node("Identity", ["newsrag_pt_zp"], [zp]),
        ]
        count += 1
    if count:
        graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.save(model, str(path))
    return count


def build_onnx_int8(model_dir: Path, progress: Callable[[str], None] = lambda m: None,
                    calibration: Sequence[str] = CALIBRATION) -> Path:
    """Build (or reuse) the ``onnx-int8`` form of the sentence-transformers model in ``model_dir``.

    Takes 1.5–3.5 minutes (82–209 s measured) and a peak of ~4.7 GB of memory for
    EmbeddingGemma-300M on 2 cores; written to a temporary folder beside the target and renamed
    into place only when complete. A verified build is reused without the ``[int8]`` extra.

    Raises:
        ModelNotAvailable: the ``[int8]`` extra is missing (:func:`require_int8_extra`), the model
            pools without its prompt (not supported), the export failed or its process died, or
            the disk refused the files.
    """
    if (done := verified_onnx_dir(model_dir)) is not None:
        return done
    require_int8_extra()
    target = onnx_dir(model_dir)
    try:
        _build(model_dir, target, progress, calibration)
    except OSError as exc:  # a full or read-only disk: nothing half-built is left in place
        raise ModelNotAvailable(f"building the {FORM} form in {target.parent} failed: {exc}. "
                                "Free some space there (it needs ~3 GB while building), then run it again.") from exc
    return target


def _export_float32(model_dir: Path, path: Path, calibration: Sequence[str]) -> dict:
    """Smooth the float32 model in ``model_dir`` and export it to ONNX at ``path``.

    Run in a child process of its own (:func:`_build`): the exporter keeps the graph it
    rewrote, and with it the model's weights, alive after it returns (onnxscript's rewrite
    rules hold their last graph), ~2 GB that the quantizer's own ~4 GB would otherwise add to.
    Returns what the build records: the counts of what was smoothed and fused, and the down
    projections' input widths (whose activations get per-token scales)."""
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu").eval()
    if any(getattr(m, "include_prompt", True) is False for m in st):
        raise ModelNotAvailable(f"{model_dir} pools its vectors without the prompt's tokens: "
                                f"the {FORM} form does not support that; use float32 or bfloat16")
    prompt = (st.prompts or {}).get("document", "")
    smoothed = _smooth_gated_mlps(st, calibration, prompt, ALPHA)
    inputs = _smooth_norm_inputs(st, calibration, prompt, ALPHA_INPUTS)
    widths = {m.down_proj.in_features for m in st.modules()
              if isinstance(getattr(m, "down_proj", None), torch.nn.Linear)}
    fused = _fuse_rms_norms(st)

    class _Whole(torch.nn.Module):  # tokens in, the sentence embedding out (pooling and dense layers too)
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    sample = st.tokenizer([prompt + CALIBRATION[0], prompt + CALIBRATION[1][:20]], padding=True, return_tensors="pt")
    batch, seq = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("seq", min=2, max=8192)
    try:
        torch.onnx.export(
            _Whole(st).eval(), (sample["input_ids"], sample["attention_mask"]), str(path), dynamo=True,
            input_names=["input_ids", "attention_mask"], output_names=["newsrag_sentence_embedding"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
            external_data=True, optimize=True, verbose=False, opset_version=_OPSET,
        )
    except OSError:  # a full or read-only disk: build_onnx_int8 says to free space
        raise
    except Exception as exc:  # the exporter's failures come in many types
        raise ModelNotAvailable(f"exporting {model_dir} to ONNX failed: {exc}") from exc
    return {"smoothed": smoothed, "inputs": inputs, "widths": widths, "fused": fused}


def _build(model_dir: Path, target: Path, progress: Callable[[str], None], calibration: Sequence[str]) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        work = Path(tmp)
        float_dir = work / "float32"
        float_dir.mkdir()
        progress(f"smoothing {model_dir.name} and exporting it to ONNX")
        try:  # spawn: a fresh interpreter, not a fork of this one's threads and memory
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
                done = child.submit(_export_float32, model_dir, float_dir / _MODEL, tuple(calibration)).result()
        except BrokenProcessPool as exc:
            raise ModelNotAvailable(f"the process exporting {model_dir} to ONNX died ({exc}); it needs ~2.2 GB, "
                                    "the whole build ~4.7 GB, of free memory. Free some, then run it again.") from exc
        smoothed, inputs, fused = done["smoothed"], done["inputs"], done["fused"]
        progress(f"exported ({smoothed} gated MLPs and {inputs} normed inputs smoothed, "
                 f"{fused} RMSNorms as one node each)")
        graph = onnx.load(str(float_dir / _MODEL), load_external_data=False).graph
        weights = {i.name for i in graph.initializer}
        matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
        del graph
        kind = weight_kind()
        progress(f"quantizing {len(matmuls)} weight matrices to {kind}")
        out = work / "int8"
        out.mkdir()
        quantize_dynamic(str(float_dir / _MODEL), str(out / _MODEL), per_channel=True,
                         weight_type=QuantType.QInt8 if kind == "int8" else QuantType.QUInt8,
                         use_external_data_format=True, nodes_to_quantize=matmuls)
        shutil.rmtree(float_dir)
        if not (out / _DATA).is_file():
            raise ModelNotAvailable(f"quantizing {model_dir} wrote no {_DATA}: this onnxruntime names it otherwise")
        per_token = _quantize_per_token(out / _MODEL, done["widths"])
        for src in model_dir.iterdir():
            if src.is_file() and not src.name.startswith(".") and not src.name.endswith(_NOT_COPIED):
                shutil.copy2(src, out / src.name)
        (out / _STAMP).write_text(json.dumps({"layout": _LAYOUT, "source": _source_fingerprint(model_dir),
                                              "alpha": ALPHA, "alpha_inputs": ALPHA_INPUTS,
                                              "smoothed": [smoothed, inputs], "per_token": per_token,
                                              "rms_norms": fused, "weights": kind,
                                              "plain_tokenizer": _plain_tokenizer_agrees(out),
                                              "files": _fingerprint(out)}), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    progress(f"built the {FORM} form in {time.perf_counter() - t0:.0f} s: {target}")


def _plain_tokenizer_agrees(folder: Path) -> bool:
    """Whether the ``tokenizers`` library alone, from ``tokenizer.json``, gives the ids that
    transformers' tokenizer gives (checked on the calibration texts with and without prompts):
    then it is used, loading in a third of the time (EmbeddingGemma: 2 s against 7 s)."""
    if not (folder / "tokenizer.json").is_file():
        return False
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    full, plain = AutoTokenizer.from_pretrained(str(folder)), Tokenizer.from_file(str(folder / "tokenizer.json"))
    prompts = [""] + list((_read_json(folder / "config_sentence_transformers.json").get("prompts") or {}).values())
    texts = [p + t for p in prompts for t in CALIBRATION] + ["", " a  b\n\tc ", "ÀÉ ｆｕｌｌ－ｗｉｄｔｈ １２３"]
    return all(full(t)["input_ids"] == plain.encode(t).ids for t in texts)


