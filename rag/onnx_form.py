"""The ``onnx-int8`` run-time form of a sentence-transformers embedder, built once and cached.

Building (``newsrag models fetch``): the float32 model is smoothed, exported to ONNX with its
pooling and dense layers (torch.onnx, dynamo), and its weight matrices quantized to int8 with
ONNX Runtime's dynamic quantization (per output channel; activations are quantized per call).
Smoothing is SmoothQuant (Xiao et al., 2023) on gated MLPs such as EmbeddingGemma's: the
inputs of a down projection hold a few channels 100-700× their mean, which per-tensor int8
activations cannot carry, so each input channel ``j`` is divided by
``s_j = max|x_j|^α / max|W_j|^(1-α)`` (folded into the up projection, which makes it) and the
down projection's weights multiplied by it: the float32 model computes the same function, and
the int8 one loses less (min cosine to float32 0.968 → 0.985 on CRUD-RAG windows).

Running: :class:`OnnxSentenceModel` is the part of a ``SentenceTransformer`` that
:class:`rag.embedding.SentenceTransformerEmbedder` uses (``prompts``, ``encode``, the
dimension), on ONNX Runtime with the model's own tokenizer.
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
from rag.model_files import stat_fingerprint

__all__ = ["FORM", "onnx_dir", "verified_onnx_dir", "build_onnx_int8", "OnnxSentenceModel", "CALIBRATION"]

FORM = "onnx-int8"
ALPHA = 0.75  # measured: 0.3 / 0.5 / 0.75 gave min cosine 0.964 / 0.984 / 0.985 (bench/README.md)
_STAMP = ".newsrag-onnx.json"
_MODEL = "model.onnx"
_DATA = "model.onnx.data"
# the source folder's top-level files that are not weights (the tokenizer's files, its config, the
# prompts and the maximum length) are copied next to the ONNX model
_NOT_COPIED = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".ipynb", ".md")
_LAYOUT = 1  # bump when the build changes, so older builds are rebuilt

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


def onnx_dir(model_dir: Path) -> Path:
    """Where the ``onnx-int8`` build of the model in ``model_dir`` lives: next to it."""
    return model_dir.with_name(f"{model_dir.name}-{FORM}")


def _fingerprint(folder: Path) -> dict[str, list[int]]:
    return stat_fingerprint(folder, sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != _STAMP))


def verified_onnx_dir(model_dir: Path) -> Path | None:
    """The ``onnx-int8`` build of ``model_dir`` if it was built completely by this layout, from
    this very model, and is unchanged since (sizes and times against the build's stamp)."""
    folder = onnx_dir(model_dir)
    try:
        stamp = json.loads((folder / _STAMP).read_text(encoding="utf-8"))
        if stamp.get("layout") != _LAYOUT or stamp.get("source") != _source_fingerprint(model_dir):
            return None
        if stamp.get("files") != _fingerprint(folder):
            return None
    except (OSError, ValueError):
        return None
    return folder


def _source_fingerprint(model_dir: Path) -> dict[str, list[int]]:
    return stat_fingerprint(model_dir, sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*.safetensors")))


def _smooth_gated_mlps(model, texts: Sequence[str], prompt: str, alpha: float) -> int:
    """SmoothQuant each gated MLP (``down(act(gate(x)) * up(x))``) of the float32 model in place:
    the function it computes is unchanged. Returns how many were smoothed."""
    import torch

    mlps = [m for m in model.modules()
            if all(isinstance(getattr(m, n, None), torch.nn.Linear) for n in ("gate_proj", "up_proj", "down_proj"))]
    if not mlps:
        return 0
    amax: dict[int, torch.Tensor] = {}

    def hook(i: int):
        def record(mod, inputs, output):
            x = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            amax[i] = torch.maximum(amax[i], x) if i in amax else x
        return record

    handles = [m.down_proj.register_forward_hook(hook(i)) for i, m in enumerate(mlps)]
    try:
        with torch.no_grad():
            model.encode([prompt + t for t in texts], batch_size=4, show_progress_bar=False)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for i, m in enumerate(mlps):
            w = m.down_proj.weight  # (out, in)
            s = (amax[i].clamp(min=1e-5) ** alpha / w.abs().amax(0).clamp(min=1e-5) ** (1 - alpha)).clamp(min=1e-5)
            m.down_proj.weight.mul_(s[None, :])
            m.up_proj.weight.div_(s[:, None])
    return len(mlps)


def build_onnx_int8(model_dir: Path, progress: Callable[[str], None] = lambda m: None,
                    calibration: Sequence[str] = CALIBRATION) -> Path:
    """Build (or reuse) the ``onnx-int8`` form of the sentence-transformers model in ``model_dir``.

    Takes ~2 minutes and a peak of 6.2 GB of memory for EmbeddingGemma-300M on 2 cores; written
    to a temporary folder beside the target and renamed into place only when complete.

    Raises:
        ModelNotAvailable: the exporter or ONNX Runtime is missing, the model pools without its
            prompt (not supported), the export failed, or the disk refused the files.
    """
    if (done := verified_onnx_dir(model_dir)) is not None:
        return done
    try:
        import onnxruntime.quantization  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter)
        import sentence_transformers  # noqa: F401
    except ImportError as exc:
        raise ModelNotAvailable(f"cannot build the {FORM} form: {exc}. Install onnxruntime and onnxscript.") from exc
    target = onnx_dir(model_dir)
    try:
        _build(model_dir, target, progress, calibration)
    except OSError as exc:  # a full or read-only disk: nothing half-built is left in place
        raise ModelNotAvailable(f"building the {FORM} form in {target.parent} failed: {exc}. "
                                "Free some space there (it needs ~3 GB while building), then run it again.") from exc
    return target


def _build(model_dir: Path, target: Path, progress: Callable[[str], None], calibration: Sequence[str]) -> None:
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        work = Path(tmp)
        st = SentenceTransformer(str(model_dir), device="cpu").eval()
        if any(getattr(m, "include_prompt", True) is False for m in st):
            raise ModelNotAvailable(f"{model_dir} pools its vectors without the prompt's tokens: "
                                    f"the {FORM} form does not support that; use float32 or bfloat16")
        prompt = (st.prompts or {}).get("document", "")
        smoothed = _smooth_gated_mlps(st, calibration, prompt, ALPHA)
        progress(f"exporting {model_dir.name} to ONNX ({smoothed} gated MLPs smoothed)")

        class _Whole(torch.nn.Module):  # tokens in, the sentence embedding out (pooling and dense layers too)
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                return self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

        sample = st.tokenizer([prompt + CALIBRATION[0], prompt + CALIBRATION[1][:20]], padding=True, return_tensors="pt")
        batch, seq = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("seq", min=2, max=8192)
        float_dir = work / "float32"
        float_dir.mkdir()
        try:
            torch.onnx.export(
                _Whole(st), (sample["input_ids"], sample["attention_mask"]), str(float_dir / _MODEL), dynamo=True,
                input_names=["input_ids", "attention_mask"], output_names=["newsrag_sentence_embedding"],
                dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                external_data=True, optimize=True, verbose=False,
            )
        except Exception as exc:  # the exporter's failures come in many types
            raise ModelNotAvailable(f"exporting {model_dir} to ONNX failed: {exc}") from exc
        del st
        graph = onnx.load(str(float_dir / _MODEL), load_external_data=False).graph
        weights = {i.name for i in graph.initializer}
        matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
        progress(f"quantizing {len(matmuls)} weight matrices to int8")
        out = work / "int8"
        out.mkdir()
        quantize_dynamic(str(float_dir / _MODEL), str(out / _MODEL), weight_type=QuantType.QInt8, per_channel=True,
                         use_external_data_format=True, nodes_to_quantize=matmuls)
        shutil.rmtree(float_dir)
        if not (out / _DATA).is_file():
            raise ModelNotAvailable(f"quantizing {model_dir} wrote no {_DATA}: this onnxruntime names it otherwise")
        for src in model_dir.iterdir():
            if src.is_file() and not src.name.startswith(".") and not src.name.endswith(_NOT_COPIED):
                shutil.copy2(src, out / src.name)
        (out / _STAMP).write_text(json.dumps({"layout": _LAYOUT, "source": _source_fingerprint(model_dir),
                                              "alpha": ALPHA, "plain_tokenizer": _plain_tokenizer_agrees(out),
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


class OnnxSentenceModel:
    """A built ``onnx-int8`` folder run with ONNX Runtime, encoding like ``SentenceTransformer.encode``:
    the prompt prepended to each text, the model's own tokenizer and maximum length, unit vectors out."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
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
        their padding) would get a vector that depends on its neighbours; alone it costs ~15%
        of speed on 2 cores (bench/README.md) and gives every chunk one vector."""
        if prompt is None:
            prompt = self.prompts.get(prompt_name, "") if prompt_name else ""
        out = np.zeros((len(sentences), self._dim), dtype=np.float32)
        for i, s in enumerate(sentences):
            ids = np.asarray([self._ids(prompt + s)], dtype=np.int64)
            out[i] = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
