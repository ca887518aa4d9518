"""What each line of a text layer is, learned from generated pages: masthead and furniture,
kicker, title, subtitle, the first line of a body, body, caption.

A text layer has no geometry: only the words, the line breaks and the blank lines between
blocks. Each line is described by a few dozen features (its length against the page's
column width and its block's longest line, punctuation, how it begins and ends, opening
formulas, what stands before and after it, how much of the text after it its words predict,
whether its words stand word for word in the text around it) and classified by gradient-boosted
trees (or a logistic regression, whichever ``bench/line_roles.py`` measured better on held-out
training pages) trained on pages made by
``tests/newspages.py`` (many papers' layouts, openings and furniture) and measured there on
pages it was not trained on. The trees read each page twice: a second model sees, beside
each line's features, the first model's probabilities for it and the two lines either side
and where it stands in its run of headline-like lines (a kicker over a title wrapped at its
width, a subtitle under it, a line wider than where another line of the run wrapped: set
smaller; ``context``). The page's lines are then read as a sequence: each line's
log-probabilities (less part of the class prior) plus the learned log-probabilities of one
role following another, within a block or across a blank line, decoded by Viterbi. The
model ships beside this file (``line_roles.json``, trees as arrays, transitions as tables);
inference is numpy only, so no learning library is needed at run time.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.records import Line
from rag.text import bigrams, printed_width

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ROLES", "FEATURES", "features", "predict", "log_probs", "decode", "available"]

ROLES = ("furniture", "kicker", "title", "subtitle", "start", "body", "caption")
WEIGHTS = Path(__file__).with_name("line_roles.json")

_SENT_END = re.compile(r"[。！？!?…][”’」』）)]*$")
_PUNCT = re.compile(r"[，。；、,;：:！？!?]")
_OPENING = re.compile(
    r"^(?:本报[^\s，。；（(]{0,12}?讯|本报(?:特约)?评论员|据[^，。]{1,24}?(?:报道|消息)|[（(]上接第?\d+版[）)]|"
    r"[^\s，。；（(“]{2,20}?(?:讯|电)\s*[（(]?|[^\s，。；（(“]{2,20}?消息[，：:]|【[^】]{2,16}】|"
    r"[^\s，。；（(“]{0,12}?记者\s*[\u4e00-\u9fff·]{2,4}\s*[\u4e00-\u9fff]{0,6}报道)"
)
_BYLINE = re.compile(r"(?:记者|通讯员|评论员|文/图|图/文)\s*[\u4e00-\u9fff·]{2,4}")
_DATE_LEAD = re.compile(r"^(?:\d{1,2}月\d{1,2}日|今年|近日|日前|昨日|昨天|今天|当地时间|记者从|\d{4}年)")
_FURNITURE = re.compile(r"第\s*\d+\s*版|^[A-Z]\d{2}\b|星期[一二三四五六日天]|责任编辑|美术编辑|校对|出版物号|第\d+期|今日\d+版|农历")
_AD = re.compile(r"热线|电话|地址|广告|招生|认购|诚聘|\d{3,4}-\d{4}")
_CAPTION = re.compile(r"摄$|摄）$|^图为|图片由")
_KICKER_END = re.compile(r"(?:强调|指出|表示|要求|寄语|提出|时说|勉励|进行时)$")
_SUBTITLE = re.compile(r"(?:出席|主持并讲话|讲话|发言|致辞|主持|参加|陪同|调研|观摩|见证)$|^[—－-]{1,2}")
_CONT = re.compile(r"[（(]\s*[下上][转接]")


def _n(s: str) -> int:
    return sum(1 for c in s if not c.isspace())


def _shape(s: str, width: float) -> list[float]:
    n = _n(s)
    return [
        min(n / max(width, 1.0), 3.0),
        1.0 if _SENT_END.search(s) else 0.0,
        1.0 if s[-1:] in "，、；：,;:" else 0.0,
        min(len(_PUNCT.findall(s)) / max(n, 1) * 5, 2.0),
        1.0 if _PUNCT.search(s) else 0.0,
        1.0 if _OPENING.match(s) else 0.0,
    ]


FEATURES = (
    # the line itself
    ["len/width", "sent end", "comma end", "punct share", "any punct", "opening",
     "log len", "byline", "date lead", "furniture", "ad", "caption", "kicker end", "subtitle end", "dash start",
     "continuation", "digits", "quote open", "first of page", "page position", "block start", "block end",
     "predicts after", "predicted by before"]
    + [f"prev {f}" for f in ("len/width", "sent end", "comma end", "punct share", "any punct", "opening")]
    + [f"next {f}" for f in ("len/width", "sent end", "comma end", "punct share", "any punct", "opening")]
    + [f"prev2 {f}" for f in ("len/width", "any punct")]
    + [f"next2 {f}" for f in ("len/width", "any punct")]
    + ["no prev", "no next", "same len as next", "topic shift"]
    + ["block lines", "index in block", "index from block end", "len/block max", "block max/width",
       "next len/len", "prev len/len", "verbatim nearby", "verbatim with next", "verbatim with prev",
       "next verbatim nearby", "prev verbatim nearby"]
)


_NEAR = 4000  # characters either side where a headline's words are looked for


def _verbatim(texts: list[str], starts: list[int], joined: str, a: int, b: int) -> float:
    """1 when lines ``a`` to ``b`` run together (spaces and a leading dash aside) appear word for
    word in the page's text within ``_NEAR`` characters, outside themselves."""
    if a < 0 or b >= len(texts):
        return 0.0
    words = "".join("".join(texts[k].split()) for k in range(a, b + 1)).lstrip("—－-")
    if len(words) < 4:
        return 0.0
    lo, hi = starts[a], starts[b] + len(texts[b])
    around = joined[max(0, lo - _NEAR): lo].replace(" ", "") + "\0" + joined[hi: hi + _NEAR].replace(" ", "")
    return 1.0 if words in around else 0.0


def features(lines: Sequence[Line]) -> list[list[float]]:
    """One row of ``FEATURES`` per line."""
    texts = [" ".join(ln.text.split()) for ln in lines]
    lens = sorted(_n(t) for t in texts)
    # the column width: the length most body lines reach
    width = float(lens[int(0.75 * (len(lens) - 1))]) if lens else 1.0
    joined = "".join(texts)
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t)
    rows = []
    n = len(lines)
    blocks: dict[int, list[int]] = {}
    for i, ln in enumerate(lines):
        blocks.setdefault(ln.block, []).append(i)
    # each line's place in its block, and the block's longest line (once per block)
    place = {i: (at, len(blk)) for blk in blocks.values() for at, i in enumerate(blk)}
    longest = {b: max(_n(texts[j]) for j in blk) for b, blk in blocks.items()}
    verbatim = [_verbatim(texts, starts, joined, i, i) for i in range(n)]
    for i, (ln, t) in enumerate(zip(lines, texts)):
        prev = texts[i - 1] if i > 0 else ""
        nxt = texts[i + 1] if i + 1 < n else ""
        prev2 = texts[i - 2] if i > 1 else ""
        nxt2 = texts[i + 2] if i + 2 < n else ""
        block_start = i == 0 or lines[i - 1].block != ln.block
        block_end = i + 1 == n or lines[i + 1].block != ln.block
        g = bigrams(t)
        after = bigrams(joined[starts[i] + len(t): starts[i] + len(t) + 300])
        before = bigrams(joined[max(0, starts[i] - 300): starts[i]])
        row = _shape(t, width) + [
            math.log1p(_n(t)),
            1.0 if _BYLINE.search(t) and _n(t) <= 24 else 0.0,
            1.0 if _DATE_LEAD.match(t) else 0.0,
            1.0 if _FURNITURE.search(t) else 0.0,
            1.0 if _AD.search(t) else 0.0,
            1.0 if _CAPTION.search(t) else 0.0,
            1.0 if _KICKER_END.search(t) else 0.0,
            1.0 if _SUBTITLE.search(t) else 0.0,
            1.0 if t[:1] in "—－-" else 0.0,
            1.0 if _CONT.search(t) else 0.0,
            sum(c.isdigit() for c in t) / max(_n(t), 1),
            1.0 if t.count("“") > t.count("”") else 0.0,
            1.0 if i == 0 else 0.0,
            i / max(n - 1, 1),
            1.0 if block_start else 0.0,
            1.0 if block_end else 0.0,
            len(g & after) / len(g) if g else 0.0,
            len(g & before) / len(g) if g else 0.0,
        ]
        row += _shape(prev, width) + _shape(nxt, width)
        row += [min(_n(prev2) / width, 3.0), 1.0 if _PUNCT.search(prev2) else 0.0,
                min(_n(nxt2) / width, 3.0), 1.0 if _PUNCT.search(nxt2) else 0.0]
        row += [1.0 if i == 0 else 0.0, 1.0 if i + 1 == n else 0.0, 1.0 if nxt and abs(_n(nxt) - _n(t)) <= 1 else 0.0]
        # how little the text before this line and the text from it on share: a story ends here
        ahead = bigrams(joined[starts[i]: starts[i] + 200])
        behind = bigrams(joined[max(0, starts[i] - 200): starts[i]])
        row.append(1.0 - len(ahead & behind) / max(1, min(len(ahead), len(behind))) if ahead and behind else 1.0)
        # where the line stands in its block (the lines between two blank lines) and how long it
        # is against the block's longest: a headline wrapped at its own width, a short block of phrases
        at, size = place[i]
        most = longest[ln.block]
        nt = max(_n(t), 1)
        row += [math.log1p(size), min(at, 6.0), min(size - 1 - at, 6.0), _n(t) / max(most, 1),
                min(most / max(width, 1.0), 3.0), min(_n(nxt) / nt, 3.0), min(_n(prev) / nt, 3.0)]
        # whether the line's words (alone, run on into the next or the previous) stand word for
        # word in the text around it: a headline takes its words from its story
        row += [verbatim[i], _verbatim(texts, starts, joined, i, i + 1) if nxt else 0.0,
                _verbatim(texts, starts, joined, i - 1, i) if prev else 0.0,
                verbatim[i + 1] if i + 1 < n else 0.0, verbatim[i - 1] if i > 0 else 0.0]
        rows.append(row)
    return rows


def available() -> bool:
    return WEIGHTS.is_file()


@functools.lru_cache(maxsize=1)
def _model() -> dict:
    return json.loads(WEIGHTS.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _trees() -> tuple[list, list]:
    import numpy as np

    m = _model()

    def arrays(trees: list) -> list:
        return [[{k: np.asarray(v) for k, v in t.items()} for t in it] for it in trees]

    return arrays(m["trees"]), arrays(m["context"]["trees"]) if "context" in m else []


def _walk(x, baseline: Sequence[float], trees: list) -> np.ndarray:
    """Gradient-boosted trees' raw scores (logits): every sample walks each tree at once."""
    import numpy as np

    scores = np.tile(np.asarray(baseline, dtype=float), (len(x), 1))
    rows = np.arange(len(x))
    for it in trees:
        for k, t in enumerate(it):
            node = np.zeros(len(x), dtype=int)
            for _ in range(int(t["depth"])):
                left = x[rows, t["feature"][node]] <= t["threshold"][node]
                node = np.where(t["leaf"][node], node, np.where(left, t["left"][node], t["right"][node]))
            scores[:, k] += t["value"][node]
    return scores


def _scores(x) -> np.ndarray:
    """Per line and role, the classifier's raw score (a logit)."""
    import numpy as np

    m = _model()
    if m["kind"] == "logistic":
        return ((x - np.asarray(m["mean"])) / np.asarray(m["scale"])) @ np.asarray(m["coef"]).T + np.asarray(m["intercept"])
    return _walk(x, m["baseline"], _trees()[0])


def _normal(s: np.ndarray) -> np.ndarray:
    import numpy as np

    s = s - s.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


_HEAD = ("kicker", "title", "subtitle")


def context(lines: Sequence[Line], lp: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """A second reading's features: each line's first-reading probabilities, its neighbours'
    (two either side), and where it stands in its run of headline-like lines (the lines the
    first reading takes for kicker, title or subtitle in a row): the run's length, the line's
    place in it, its length against the run's longest line, how many of the run's lines are
    as long as that (a headline wrapped at its width), and what the widths where the run's lines
    wrap say of their type sizes (``_wrap_sizes``)."""
    import numpy as np

    p = np.exp(lp)
    n, k = p.shape
    head = p[:, [classes.index(c) for c in _HEAD if c in classes]].sum(axis=1) > 0.5
    lens = np.asarray([_n(ln.text) for ln in lines], dtype=float)
    pad = np.zeros((2, k))
    pp = np.vstack([pad, p, pad])
    cols = [p] + [pp[2 + d: 2 + d + n] for d in (-2, -1, 1, 2)]
    run = np.zeros((n, 6))
    wrap = np.zeros((n, 5))
    i = 0
    while i < n:
        if not head[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and head[j + 1]:
            j += 1
        most = lens[i: j + 1].max()
        at_most = float((lens[i: j + 1] >= most - 1).sum())
        for q in range(i, j + 1):
            run[q] = [j - i + 1, q - i, j - q, lens[q] / max(most, 1.0), at_most, 1.0 if lens[q] >= most - 1 else 0.0]
        wrap[i: j + 1] = _wrap_sizes([lines[q].text for q in range(i, j + 1)])
        i = j + 1
    return np.hstack(cols + [wrap, run])


def _wraps(a: str, b: str) -> bool:
    """Whether headline line ``a`` runs on into ``b`` (a phrase the layout wrapped at its width): a
    tail of a character or two, or a word across the break ("…技" / "能大比武")."""
    a, b = "".join(a.split()), "".join(b.split())
    if not a or not b:
        return False
    if len(b) <= 2:
        return True
    from rag.text import word_across

    return word_across(a, b)


def _wrap_sizes(texts: list[str]) -> list[list[float]]:
    """For each line of a headline run, what its width says of its type size (a text layer has
    no sizes): whether it runs on into the next line, whether the line before ran on into it,
    how much wider it is than a line of the run that wrapped above it and below it (the ratio,
    0 where none wrapped; wider than where another line wrapped: set smaller, a kicker or a
    subtitle beside a title), and whether
    it wraps at the width another line wraps at (one size, one role)."""
    w = [printed_width("".join(t.split())) for t in texts]
    n = len(texts)
    wraps = [k + 1 < n and _wraps(texts[k], texts[k + 1]) for k in range(n)]
    out = []
    for q in range(n):
        # (as a ratio of widths, as type sizes go: a character more is noise on a long line)
        above = [w[q] / w[p] for p in range(q) if wraps[p] and p != q - 1 and w[p]]
        below = [w[q] / w[p] for p in range(q + 1, n) if wraps[p] and w[p]]
        same = wraps[q] and any(wraps[p] and abs(w[p] - w[q]) <= 0.5 for p in range(n) if p != q)
        out.append([float(wraps[q]), float(q > 0 and wraps[q - 1]), min(max(above, default=0.0), 3.0),
                    min(max(below, default=0.0), 3.0), float(same)])
    return out


def log_probs(lines: Sequence[Line]) -> np.ndarray:
    """Per line, the log-probability of each role (``_model()["classes"]`` order), line by line
    (read twice where the model has a second reading, ``context``)."""
    import numpy as np

    x = np.asarray(features(lines), dtype=float)
    lp = _normal(_scores(x))
    m = _model()
    if "context" in m:
        c = m["context"]
        lp = _normal(_walk(np.hstack([x, context(lines, lp, m["classes"])]), c["baseline"], _trees()[1]))
    return lp


def decode(lp, breaks: Sequence[bool], trans: dict) -> list[int]:
    """The likeliest sequence of roles: each line's log-probabilities plus the learned
    log-probability of going from one role to the next, within a block or across a blank
    line (``trans["same"]``, ``trans["new"]``, ``trans["first"]``), by Viterbi."""
    import numpy as np

    same, new, first = (np.asarray(trans[k]) for k in ("same", "new", "first"))
    n, k = lp.shape
    score = first + lp[0]
    back = np.zeros((n, k), dtype=int)
    for i in range(1, n):
        t = new if breaks[i] else same
        cand = score[:, None] + t  # from (rows) to (columns)
        back[i] = cand.argmax(axis=0)
        score = cand[back[i], np.arange(k)] + lp[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return path[::-1]


def predict(lines: Sequence[Line], sequence: bool = True) -> list[str]:
    """The role of each line (one of ``ROLES``): the classifier's, line by line, read as a
    sequence where the model learned how roles follow each other (``sequence``)."""
    if not lines:
        return []
    m = _model()
    lp = log_probs(lines)
    if sequence and "transitions" in m:
        import numpy as np

        breaks = [i > 0 and lines[i - 1].block != ln.block for i, ln in enumerate(lines)]
        # the posterior less part of the class prior, so the transitions do not count it twice
        emit = lp - m.get("prior_weight", 0.0) * np.asarray(m.get("prior", np.zeros(lp.shape[1])))
        return [m["classes"][k] for k in decode(emit, breaks, m["transitions"])]
    return [m["classes"][k] for k in lp.argmax(axis=1)]
