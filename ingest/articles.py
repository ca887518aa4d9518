"""Split the text of one OCR'd newspaper page into articles.

Newspaper text layers come out of multi-column PDFs: lines are cut at column
width, blank lines mark column breaks rather than paragraphs, and headline
blocks float away from their bodies. The rules here are about conventions of
Chinese newspapers, not about one page:

1. A body starts at an opening convention (``本报讯（记者 …）``, ``本报评论员``,
   ``据…报道``, ``新华社…电``) and runs until ``（下转N版）`` or the next opening.
2. Headline lines are short lines without sentence punctuation, standing where
   a body cannot be mid-sentence (block edges, after a sentence end or a
   continuation marker, right before an opening). With font sizes (PDF), size
   decides instead.
3. Runs of headline lines are split into per-article groups and attached to
   bodies by shared character bigrams, with a preference for the body right
   below and for group boundaries after attribution lines (``…出席``).
4. Within a group, the line that best matches the lead paragraph is the main
   title; lines above it are the kicker, lines below it the subtitle.

Text layers come in other layouts too. Before the rules above run, the masthead and page
furniture above the first article are left out ("渝中报 第1版 · 要闻"), a continuation mark
broken over two lines is made whole, and headline phrases the layout wrapped at a narrow
column are joined again ("…网格员技能大比" / "武"): by a quote opened on one line and closed
on the next, a word running across the break, a one- or two-character tail, or a page-wide
wrap width (many headline lines of exactly one width). Printed headline phrases stay lines
of their own, so the seed page reads exactly as before.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ingest.layout import body_size
from rag.records import Article, Box, Line, Page, Place
from rag.text import bigrams, jieba_ready, printed_width, word_across

__all__ = ["segment_page", "segment", "Segmented"]

log = logging.getLogger(__name__)

# Openings that start an article body.
_OPENING = re.compile(
    r"^(?:本报[^\s，。；（(]{0,12}?讯|本报(?:特约)?评论员|据[^，。]{1,24}?(?:报道|消息)|"
    r"(?:新华社|中新社)[^，。（(]{0,16}?电|[（(]上接第?\d+版[）)]|"
    # other outlets: "扬子晚报网7月24日讯（…）", "中新网武汉7月21日电 (…)", "央视网消息：",
    # "【环球网报道】", "大众网记者 韩志磊 滨州报道"
    r"[^\s，。；（(“]{2,20}?(?:讯|电)\s*[（(]|[^\s，。；（(“]{2,20}?消息[，：:]|【[^】]{2,16}(?:报道|消息|讯)】|"
    r"[^\s，。；（(“]{0,12}?记者\s*[\u4e00-\u9fff·]{2,4}\s*[\u4e00-\u9fff]{0,6}报道)"
)
# A byline printed on a line of its own: "□本报记者 张三 通讯员 李四", "文/图 记者 王五",
# "潮新闻客户端 评论员 周一鸣".
_OWN_BYLINE = re.compile(
    r"^[□■◎●]?\s*(?:(?:文|图)/(?:文|图)\s*)?[^\s，。；：、（）()讯电]{0,10}?(?:记者|通讯员|评论员)\s*[\u4e00-\u9fff·]{2,4}"
    r"(?:\s+(?:本报)?(?:见习|特约)?(?:记者|通讯员|实习生)\s*[\u4e00-\u9fff·]{2,4})*\s*$"
)
# A line that is a byline and nothing else, e.g. "通讯员 王小明" or "本报评论员".
_BYLINE_ONLY = re.compile(
    r"^(?:本报(?:特约)?评论员|(?:本报)?(?:见习|特约)?(?:记者|通讯员)\s*[\u4e00-\u9fff·]{2,4}"
    r"(?:\s+(?:见习|特约)?(?:记者|通讯员)\s*[\u4e00-\u9fff·]{2,4})*)$"
)
_CONT_TO = re.compile(r"[（(]\s*(?:下)?转\s*第?\s*(\d+)\s*版\s*[）)]")
# a mark at the end of a story's last line whose brackets OCR lost ("…架构，下转2版")
_CONT_BARE = re.compile(r"[（(]?\s*下转\s*第?\s*(\d+)\s*版\s*[）)]?\s*$")
_CONT_FROM = re.compile(r"^[（(]\s*上接\s*第?\s*(\d+)\s*版\s*[）)]\s*")
_SENT_END = re.compile(r"[。！？!?…]['\"”’」』）)]*$")
_BODY_PUNCT = re.compile(r"[。，；、,;]|[！？!?](?!$)")
_KICKER_END = re.compile(r"(?:强调|指出|表示|要求|寄语|提出|时说|勉励)$")
_SUBTITLE = re.compile(r"(?:出席|主持并讲话|讲话|发言|致辞|主持|参加|陪同|调研|观摩|见证)$|^[—－-]{1,2}")
_PAIRS = (("“", "”"), ("‘", "’"), ("《", "》"), ("（", "）"), ("(", ")"), ("「", "」"))
_MAX_HEADLINE_CHARS = 40


def _overlap(line: str, target: set[str]) -> float:
    g = bigrams(line)
    return len(g & target) / len(g) if g else 0.0


# --- line classes -------------------------------------------------------------------


def _balanced(s: str) -> bool:
    return all(s.count(a) == s.count(b) for a, b in _PAIRS)


def _text_candidate(s: str) -> bool:
    return (
        2 <= len(s) <= _MAX_HEADLINE_CHARS
        and not _BODY_PUNCT.search(s)
        and not _CONT_TO.search(s)
        and _balanced(s)
        and not _OPENING.match(s)
        and not _BYLINE_ONLY.match(s)
    )


def _is_opening(s: str) -> bool:
    return bool(_OPENING.match(s) or _BYLINE_ONLY.match(s) or _OWN_BYLINE.match(s))


def _may_head(lines: Sequence[Line], i: int, j: int) -> bool:
    """Whether lines i..j (one block) stand where a headline can: after the start of a block,
    an article's end (a continuation mark, a byline) or a sentence end, and before the end
    of the block or a body's opening. After a mere sentence end inside a block, only right
    above an opening: a short line at the foot of a column is the body running on."""
    next_opening = j + 1 < len(lines) and _is_opening(lines[j + 1].text)
    next_ok = j + 1 == len(lines) or lines[j + 1].block != lines[j].block or next_opening
    if i == 0 or lines[i - 1].block != lines[i].block:
        return next_ok
    prev = lines[i - 1].text
    if _CONT_TO.search(prev) or _BYLINE_ONLY.match(prev):
        return next_ok
    return bool(_SENT_END.search(prev)) and next_opening


def _headline_flags(lines: tuple[Line, ...]) -> list[bool]:
    sizes = [ln.font_size for ln in lines if ln.font_size]
    if sizes and len(sizes) == len(lines):
        body = sorted(sizes)[len(sizes) // 2]
        big = [ln.font_size >= body * 1.15 and not _is_opening(ln.text) for ln in lines]

        def inside_body(i: int) -> bool:
            # between two body lines of its block: a body line whose characters justification
            # spread (OCR measures type size by character pitch), not a headline
            return (0 < i < len(lines) - 1 and not big[i - 1] and not big[i + 1]
                    and lines[i - 1].block == lines[i].block == lines[i + 1].block)

        return [b and not inside_body(i) for i, b in enumerate(big)]
    cand = [_text_candidate(ln.text) for ln in lines]
    flags = [False] * len(lines)
    i = 0
    while i < len(lines):
        if not cand[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(lines) and cand[j + 1] and lines[j + 1].block == lines[i].block:
            j += 1
        if _may_head(lines, i, j):
            for k in range(i, j + 1):
                flags[k] = True
        i = j + 1
    return flags


# --- bodies ----------------------------------------------------------------------


@dataclass
class _Body:
    lines: list[Line] = field(default_factory=list)
    continues_on_page: int | None = None
    closed: bool = False
    text: str = ""
    byline: str = ""
    continued_from_page: int | None = None
    grams: set[str] = field(default_factory=set)
    lead: set[str] = field(default_factory=set)


@dataclass
class _Run:
    lines: list[Line]
    following: int | None = None  # index of the first body starting after the run
    attached: bool = False  # the run's last line sits right above an opening


def _split(page: Page, flags: list[bool]) -> tuple[list[_Body], list[_Run]]:
    bodies: list[_Body] = []
    runs: list[_Run] = []
    current: _Body | None = None
    run: _Run | None = None
    for idx, (ln, is_head) in enumerate(zip(page.lines, flags)):
        if is_head:
            if run is None:
                run = _Run(lines=[])
                runs.append(run)
            run.lines.append(ln)
            continue
        if run is not None:
            prev = page.lines[idx - 1]
            run.attached = prev.block == ln.block and _is_opening(ln.text)
            run = None
        s = ln.text
        if _is_opening(s) or current is None or current.closed:
            current = _Body()
            bodies.append(current)
            for r in runs:
                if r.following is None:
                    r.following = len(bodies) - 1
        m = _CONT_TO.search(s)
        if m:
            before, after = s[: m.start()].rstrip(), s[m.end() :].strip()
            if before:
                current.lines.append(Line(before, ln.block, ln.font_size, ln.bbox))
            current.continues_on_page = int(m.group(1))
            current.closed = True
            if after:  # rare: text after the marker on the same line starts something new
                current = _Body(lines=[Line(after, ln.block)])
                bodies.append(current)
            continue
        current.lines.append(ln)
    return [b for b in bodies if b.lines], runs


def _join(lines: list[Line]) -> str:
    """Join column-broken lines; a line ending a sentence well short of its
    neighbours' width ends a paragraph (columns differ in width, so the
    neighbours in the same block are the reference, not the page)."""
    out: list[str] = []
    for i, ln in enumerate(lines):
        s = ln.text
        if out and out[-1] != "\n":
            prev = out[-1]
            if prev[-1:].isascii() and prev[-1:].isalnum() and s[:1].isascii() and s[:1].isalnum():
                out.append(" ")  # layout breaks Latin words and numbers only where a space was
        out.append(s)
        if i == len(lines) - 1 or not _SENT_END.search(s):
            continue
        near = [o for o in (lines[i - 1] if i else None, lines[i + 1]) if o is not None and o.block == ln.block]
        ref = max((printed_width(o.text) for o in near), default=0.0)
        if printed_width(s) < 0.75 * ref:
            out.append("\n")
    text = "".join(out)
    text = re.sub(r"(?<=\d)[ \t]+(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])[ \t]+(?=\d)", "", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return text.strip()


_ROLE = r"(?:本报)?(?:见习|特约)?(?:记者|通讯员|实习生|摄影|评论员)"


def _unbox(s: str) -> str:
    """A byline without the mark before it ("□本报记者 …"; OCR reads the box as "口")."""
    return re.sub(r"^\s*(?:[□■◎●]|口(?=\s*本报))\s*", "", s)


def _clean_byline(s: str) -> str:
    s = " ".join(s.split())
    s = re.sub(r"(?<=[\u4e00-\u9fff·])\s+(?=[\u4e00-\u9fff·])", "", s)
    s = re.sub(rf"\s*({_ROLE})\s*", r" \1 ", s)
    return " ".join(s.split())


def _byline(text: str) -> tuple[str, str, int | None]:
    """Split (byline, body text, continued-from page) off the start of a body."""
    cont_from = None
    m = _CONT_FROM.match(text)
    if m:
        cont_from = int(m.group(1))
        text = text[m.end() :].lstrip()
    m = re.match(r"^本报[^\s，。；（(]{0,12}?讯\s*(?:[（(]([^）)]{1,60}?)[）)])?\s*", text)
    if m:
        return _clean_byline(m.group(1) or ""), text[m.end() :], cont_from
    m = re.match(r"^(本报(?:特约)?评论员)\s*", text)
    if m:
        return m.group(1), text[m.end() :], cont_from
    m = re.match(r"^((?:新华社|中新社)[^，。（(]{0,16}?电)\s*(?:[（(]([^）)]{1,60}?)[）)])?\s*", text)
    if m:
        who = _clean_byline(m.group(2) or "")
        return (f"{m.group(1)} {who}".strip()), text[m.end() :], cont_from
    m = re.match(r"^(据[^，。]{1,24}?(?:报道|消息))", text)
    if m:
        return m.group(1), text, cont_from
    first, _, rest = text.partition("\n")
    if _BYLINE_ONLY.match(first):
        return _clean_byline(first), rest.lstrip(), cont_from
    # other outlets: "扬子晚报网7月24日讯（通讯员 A 记者 B）", "中新网武汉7月21日电 (李璐)"
    m = re.match(r"^[^\s，。；（(“]{2,20}?讯\s*[（(]([^）)]{1,60}?)[）)]\s*", text)
    if m:
        return _clean_byline(m.group(1)), text[m.end():], cont_from
    m = re.match(r"^([^\s，。；（(“]{2,20}?电)\s*[（(]([^）)]{1,60}?)[）)]\s*", text)
    if m:
        return f"{m.group(1)} {_clean_byline(m.group(2))}".strip(), text[m.end():], cont_from
    m = re.match(r"^[^\s，。；（(“]{0,12}?记者\s*([\u4e00-\u9fff·]{2,4})\s*([\u4e00-\u9fff]{0,6})报道\s*", text)
    if m:
        # a name set apart by a space ends there ("记者 韩志磊 报道"); run on into a place
        # ("韩志磊滨州报道"), the dictionary tells them apart
        spaced = not m.group(2) or m.end(1) < m.start(2)
        name = m.group(1) if spaced else _name_before_place(m.group(1) + m.group(2))
        return f"记者 {name}", text[m.end():], cont_from
    if _OWN_BYLINE.match(first):
        return _clean_byline(_unbox(first)), rest.lstrip(), cont_from
    return "", text, cont_from


def _name_before_place(s: str) -> str:
    """The reporter's name in "韩志磊滨州" (a dateline without spaces): what stands before the
    place, which the dictionary knows as a word ("滨州", "长沙")."""
    words = jieba_ready().lcut(s, HMM=False)
    if len(words) > 1 and len(words[-1]) >= 2 and 2 <= len(s) - len(words[-1]) <= 4:
        return s[: len(s) - len(words[-1])]
    return s[:3] if len(s) >= 5 else s[:2]


# --- headline groups ------------------------------------------------------------


def _assign_run(run: _Run, bodies: list[_Body], free: list[int]) -> dict[int, list[Line]]:
    """Label each line of a run with a body (Viterbi over lines, bodies as states)."""
    if not free:
        return {}
    n = len(run.lines)
    emit = []
    for i, ln in enumerate(run.lines):
        row = {}
        for b in free:
            score = _overlap(ln.text, bodies[b].grams)
            if b == run.following:
                score += 0.2
                if run.attached and i == n - 1:
                    score += 0.6
            row[b] = score
        emit.append(row)

    def switch_cost(i: int) -> float:
        prev, cur = run.lines[i - 1], run.lines[i]
        if _KICKER_END.search(prev.text):
            return float("inf")  # a kicker always sits on top of its own title
        if _SUBTITLE.search(prev.text):
            return 0.05
        return 0.25 if prev.block != cur.block else 0.6

    best = {b: (emit[0][b], [b]) for b in free}
    for i in range(1, n):
        cost = switch_cost(i)
        nxt = {}
        top_b = max(best, key=lambda b: best[b][0])
        for b in free:
            stay = best[b][0]
            move = best[top_b][0] - cost if top_b != b else float("-inf")
            if stay >= move:
                nxt[b] = (stay + emit[i][b], best[b][1] + [b])
            else:
                nxt[b] = (move + emit[i][b], best[top_b][1] + [b])
        best = nxt
    path = max(best.values(), key=lambda v: v[0])[1]
    groups: dict[int, list[Line]] = {}
    for ln, b in zip(run.lines, path):
        groups.setdefault(b, []).append(ln)
    return groups


def _roles(group: list[Line], lead: set[str]) -> tuple[str, str, str]:
    """Split a headline group into (kicker, title, subtitle)."""
    texts = [" ".join(ln.text.split()) for ln in group]
    n = len(texts)
    fixed: dict[int, str] = {}
    for i, t in enumerate(texts):
        if n > 1 and _KICKER_END.search(t) and i < n - 1:
            fixed[i] = "kicker"
        elif n > 1 and _SUBTITLE.search(t) and i > 0:
            fixed[i] = "subtitle"
    free = [i for i in range(n) if i not in fixed] or list(range(n))
    score = {i: _overlap(texts[i], lead) for i in free}
    top = max(free, key=lambda i: (score[i], -i))
    main = {top}
    sized = all(ln.font_size for ln in group)
    for step in (-1, 1):
        j = top + step
        while j in score and group[j].block == group[top].block:
            if sized:  # with type sizes, the title is the lines set as large as its best line
                if abs(group[j].font_size - group[top].font_size) > 0.08 * group[top].font_size:
                    break
            elif score[j] < max(0.6 * score[top], 0.3):
                break
            main.add(j)
            j += step
    lo, hi = min(main), max(main)
    kicker = [t for i, t in enumerate(texts) if i < lo and fixed.get(i) != "subtitle"]
    title = [texts[i] for i in range(lo, hi + 1)]
    subtitle = [t for i, t in enumerate(texts) if i > hi or (i < lo and fixed.get(i) == "subtitle")]
    return " ".join(kicker), " ".join(title), " ".join(subtitle)


# --- text layers laid out another way ----------------------------------------------
#
# The same articles reach us with other line breaking: headlines wrapped at a narrow column
# ("…网格员技能大比" / "武"), a masthead above the first article, a continuation mark broken
# over two lines ("（下转4" / "版）"). These passes give segmentation the page as it would
# read with one line per headline phrase, no furniture and whole marks.

# Page furniture at the top of a page: "渝中报 第1版 · 要闻", "2023年12月5日 星期二", "要闻".
_FURNITURE = re.compile(
    r"第\s*[0-9一二三四五六七八九十]+\s*版|星期[一二三四五六日天]|^\s*\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*$"
    r"|^[\s·•|丨]*(?:要闻|综合(?:新闻)?|时政|社会|经济|文化|体育|国际|国内|评论|专版|专题|副刊|民生|法治|城事|本地新闻)[\s·•|丨]*$"
    r"|责任编辑|本版编辑|美术编辑|校对"
)
_MARK_HEAD = re.compile(r"[（(]\s*(?:[下上]\s*(?:[转接]\s*(?:第\s*)?(?:\d+\s*)?(?:版\s*)?)?)?$")
_OPEN_MARKS = "“‘（《「『("


# a newspaper's name as a masthead prints it: "渝中报", "重庆日报", "山城晚报"
_PAPER_NAME = re.compile(r"^\s*[\u4e00-\u9fff]{1,8}(?:日报|晚报|周报|时报|商报|报)\s*$")


def _is_furniture(s: str, paper: str) -> bool:
    return len(s) <= 40 and not re.search(r"[。！？；]", s) and (
        bool(_FURNITURE.search(s)) or (bool(paper) and s.strip() == paper) or bool(_PAPER_NAME.match(s)))


def _drop_furniture(lines: tuple[Line, ...], paper: str) -> tuple[Line, ...]:
    """Leave out the masthead and page furniture above the first article (and editors' credits below the last)."""
    lo, hi = 0, len(lines)
    while lo < hi and _is_furniture(lines[lo].text, paper) and not _OPENING.match(lines[lo].text):
        lo += 1
    while hi > lo and re.search(r"责任编辑|本版编辑|美术编辑|校对", lines[hi - 1].text) and len(lines[hi - 1].text) <= 40:
        hi -= 1
    return lines[lo:hi]


def _join_marks(lines: tuple[Line, ...]) -> tuple[Line, ...]:
    """Make a continuation mark broken over two lines ("（下转4" / "版）") whole on the first line."""
    out = list(lines)
    i = 0
    while i + 1 < len(out):
        a, b = out[i], out[i + 1]
        m = _MARK_HEAD.search(a.text)
        if m and m.group(0):
            joined = a.text + b.text
            whole = _CONT_TO.search(joined, m.start()) or _CONT_FROM_ANY.search(joined, m.start())
            if whole and whole.start() == m.start() and whole.end() > len(a.text):
                out[i] = replace(a, text=joined[: whole.end()])
                rest = joined[whole.end():].strip()
                if rest:
                    out[i + 1] = replace(b, text=rest)
                else:
                    del out[i + 1]
        i += 1
    return tuple(out)


_CONT_FROM_ANY = re.compile(r"[（(]\s*上接\s*第?\s*(\d+)\s*版\s*[）)]")


def _headlineish(s: str) -> bool:
    """Could be a piece of a headline: short, no body punctuation (quotes may be open: wrapped)."""
    return (
        1 <= len(s) <= _MAX_HEADLINE_CHARS
        and not _BODY_PUNCT.search(s)
        and not _CONT_TO.search(s)
        and not _OPENING.match(s)
        and not _BYLINE_ONLY.match(s)
    )


def _open_pairs(s: str) -> int:
    return sum(abs(s.count(a) - s.count(b)) for a, b in _PAIRS)


def _headline_runs(lines: list[Line]) -> list[tuple[int, int]]:
    """(start, end) of each run of headline-ish lines in one block, standing where a body
    cannot be mid-sentence (the same places ``_headline_flags`` accepts)."""
    runs, i = [], 0
    while i < len(lines):
        if not _headlineish(lines[i].text):
            i += 1
            continue
        j = i
        while j + 1 < len(lines) and lines[j + 1].block == lines[i].block and _headlineish(lines[j + 1].text):
            j += 1
        if j > i and _may_head(lines, i, j):
            runs.append((i, j + 1))
        i = j + 1
    return runs


def _wrap_width(lines: list[Line], runs: list[tuple[int, int]]) -> float | None:
    """The column width headlines were wrapped at, when the page shows one: many headline
    lines followed by another of their run have exactly that width. Pages whose headline
    lines are the printed phrases show no such width."""
    widths = [printed_width(lines[k].text) for i, j in runs for k in range(i, j - 1)]
    if not widths:
        return None
    w, n = Counter(widths).most_common(1)[0]
    return w if n >= 4 and n >= 0.25 * len(widths) else None


def _wrapped(phrase: str, last: str, b: str, width: float | None) -> str:
    """Whether line ``b`` carries on the headline ``phrase`` so far (whose last printed line
    is ``last``), wrapped there by the layout rather than ended: "sure", "likely" (only the
    line filled the column, which a phrase ending at the column's edge does too) or ""."""
    if _open_pairs(phrase) and _open_pairs(phrase + b) < _open_pairs(phrase):
        return "sure"  # a quote or bracket opened on one line closes on the next
    if len(b) <= 2 or word_across(last, b):
        return "sure"
    if width is None:
        return ""
    # the last line filled the column (or stopped one short because b opens with a quote)
    full = printed_width(last) >= width or (printed_width(last) >= width - 1 and b[:1] in _OPEN_MARKS)
    return "likely" if full else ""


def _glue(a: str, b: str) -> str:
    space = a[-1:].isascii() and a[-1:].isalnum() and b[:1].isascii() and b[:1].isalnum()
    return a + (" " if space else "") + b


def _unwrap_headlines(lines: tuple[Line, ...]) -> tuple[Line, ...]:
    """Join the lines of a headline phrase the layout wrapped into one line (without a space
    between Chinese characters); the printed phrases stay lines of their own."""
    lines = list(lines)
    runs = _headline_runs(lines)
    if not runs:
        return tuple(lines)
    width = _wrap_width(lines, runs)
    out: list[Line] = []
    pos = 0
    for i, j in runs:
        out.extend(lines[pos:i])
        out.extend(_phrases(lines[i:j], width))
        pos = j
    out.extend(lines[pos:])
    return tuple(out)


def _phrases(run: list[Line], width: float | None) -> list[Line]:
    """The run's lines joined into headline phrases. A phrase that would outgrow a headline
    line is split again where a merely "likely" join was made last."""
    done: list[list[Line]] = []
    cur: list[Line] = [run[0]]
    joins: list[str] = []  # how each line of ``cur`` after the first was joined
    for ln in run[1:]:
        while True:
            text = "".join(x.text for x in cur)
            how = _wrapped(text, cur[-1].text, ln.text, width)
            if how and len(text) + len(ln.text) > _MAX_HEADLINE_CHARS and "likely" in joins:
                k = len(joins) - joins[::-1].index("likely")  # split before the last likely join
                done.append(cur[:k])
                cur, joins = cur[k:], joins[k:]
                continue
            break
        if how and len(text) + len(ln.text) <= _MAX_HEADLINE_CHARS:
            cur.append(ln)
            joins.append(how)
        else:
            done.append(cur)
            cur, joins = [ln], []
    done.append(cur)
    out = []
    for group in done:
        text = group[0].text
        for ln in group[1:]:
            text = _glue(text, ln.text)
        out.append(replace(group[0], text=text))
    return out


# --- entry point ----------------------------------------------------------------


def segment_page(page: Page) -> list[Article]:
    """Split one page into articles, in reading order. A page where no article is recognised
    comes back as page-level articles, one per block (see ``segment``)."""
    return segment(page).articles


@dataclass(frozen=True)
class Segmented:
    """A page's articles, and whether they are page-level pieces because none was recognised."""

    articles: list[Article]
    fell_back: bool = False


def segment(page: Page, text: str = "auto") -> Segmented:
    """Split one page into articles. Pages laid out by ``ingest.layout`` (lines with boxes)
    are read story by story as the layout found them. Text layers: ``text="rules"`` by the
    conventions above; ``"roles"`` by the line roles ``ingest.line_roles`` learned from
    generated pages; ``"auto"`` (default) by the rules where the page is set by the
    conventions they were written for (every body they find opens with a formula, and the
    paper's own — 本报讯 — opens each); else by the learned roles.
    Nothing is silently lost: a page with text where no article is recognised gives one
    article per block, titled by its first line when that reads as a headline."""
    if page.lines and all(ln.bbox is not None for ln in page.lines):
        arts = _segment_laid_out(page)
    elif text == "roles" or text == "auto" and _roles_model():
        arts = None
        if text == "auto":
            ruled = _segment_text(page)
            roled = _segment_roles(page)
            # the rules where the page prints its formulas and the paper's own (本报讯) opens each
            # story the rules find. On other papers' pages the learned roles read better
            # (bench.line_roles); on the seed page's real text layer they find 12 pieces for its
            # 8 stories, the rules all 8. (Where both readings merely found as many stories, the
            # rules were kept too: 1.6 points lost on generated pages, bench.segmentation.)
            # (counted in the page's text run together: a line break may split 本|报讯)
            own = len(_OWN_ANYWHERE.findall("".join("".join(ln.text.split()) for ln in page.lines)))
            if ruled and (not roled or all(_opens(a) for a in ruled) and own >= len(ruled)):
                arts = ruled  # (and where the learned roles find no story at all, what the rules found)
            else:
                arts = roled
        if arts is None:
            arts = _segment_roles(page)
    else:
        arts = _segment_text(page)
    if arts or not any(ln.text.strip() for ln in page.lines):
        return Segmented(arts)
    log.warning("no article recognised on %s: %d page-level pieces", page.source or page.key,
                len({ln.block for ln in page.lines}))
    return Segmented(_page_level(page), fell_back=True)


def _page_level(page: Page) -> list[Article]:
    out = []
    blocks: dict[int, list[Line]] = {}
    for ln in page.lines:
        if ln.text.strip():
            blocks.setdefault(ln.block, []).append(ln)
    for lines in blocks.values():
        first = lines[0].text.strip()
        head = _text_candidate(first) and len(lines) > 1
        body = lines[1:] if head else lines
        text = _join(body)
        digest = hashlib.sha256(f"{page.key}|page-level|{text[:80]}".encode()).hexdigest()[:16]
        out.append(Article(article_id=digest, source_id=digest, paper=page.paper, date=page.date, page=page.page,
                           title=first if head else "", text=text, page_key=page.key, source=page.source,
                           place=_place(page, _Body(lines=body, text=text), lines[:1] if head else [])))
    return out


def _article(page: Page, b: _Body, head: list[Line], kicker: str, title: str, subtitle: str) -> Article:
    digest = hashlib.sha256(f"{page.key}|{title}|{b.text[:80]}".encode()).hexdigest()[:16]
    return Article(article_id=digest, source_id=digest, paper=page.paper, date=page.date, page=page.page,
                   title=title, kicker=kicker, subtitle=subtitle, byline=b.byline, text=b.text,
                   continues_on_page=b.continues_on_page, continued_from_page=b.continued_from_page,
                   page_key=page.key, source=page.source, place=_place(page, b, head))


def _segment_laid_out(page: Page) -> list[Article]:
    """Stories as ``ingest.layout.reading_order`` numbered them: block 2k the headline group of
    story k, 2k + 1 its body."""
    stories: list[tuple[list[Line], list[Line]]] = []
    current = None
    for ln in page.lines:
        if current != ln.block // 2:
            stories.append(([], []))
            current = ln.block // 2
        stories[-1][ln.block % 2].append(ln)
    out = []
    body = body_size(page.lines)
    for head, lines in stories:
        if not lines:
            continue
        if not head and all(_is_furniture(ln.text, page.paper) for ln in lines):
            continue  # the masthead's lines, a folio, the editors' line: not an article
        b = _Body()
        lines = list(_join_marks(tuple(lines)))  # "（下" / "转2版）" broken over two lines
        for k, ln in enumerate(lines):
            m = _CONT_TO.search(ln.text) or (_CONT_BARE.search(ln.text) if k == len(lines) - 1 else None)
            if m and k >= len(lines) - 2:
                before = ln.text[: m.start()].rstrip()
                if before:
                    b.lines.append(replace(ln, text=before))
                b.continues_on_page = int(m.group(1))
                break
            b.lines.append(ln)
        if not b.lines:
            continue
        first = b.lines[0].text
        f0, _, f1, _ = b.lines[0].bbox
        rights = sorted(ln.bbox[2] for ln in b.lines if min(ln.bbox[2], f1) - max(ln.bbox[0], f0) > 0.5 * (f1 - f0))
        # a byline on a line of its own ends there, short of its column's right edge (a line
        # that reaches it is an opening running on, a paragraph's first line indented or not:
        # "大众网记者 韩志" / "磊 滨州报道 …", "四川在线记者 蒋京" / "洲 文/剪辑…")
        right = rights[len(rights) // 2]

        def alone(ln: Line, right: float = right) -> bool:
            return ln.bbox[2] < right - 0.5 * (ln.font_size or 0)

        # (or the line after it opens a paragraph, indented; a byline may take two lines:
        # "□本报记者 钟霞宇 通讯员" / "孔敏平", the first one full)
        own = 0
        for n in (1, 2):
            if len(b.lines) <= n:
                break
            text = "".join(ln.text for ln in b.lines[:n])
            ends = alone(b.lines[n - 1]) or b.lines[n].bbox[0] - b.lines[0].bbox[0] > 1.2 * body
            if ends and (_BYLINE_ONLY.match(text) or _OWN_BYLINE.match(text)):
                own = n
                break
            if alone(b.lines[0]):
                break
        whole = _byline(_join(b.lines))
        if whole[0] and whole[0] != _clean_byline(_unbox(first)):
            b.byline, b.text, b.continued_from_page = whole  # a formula that runs on ("…记者 X 长沙报道")
        elif own:
            b.byline = _clean_byline(_unbox("".join(ln.text for ln in b.lines[:own])))
            _, b.text, b.continued_from_page = _byline(_join(b.lines[own:]))
        else:
            b.byline, b.text, b.continued_from_page = _byline(_join(b.lines))
        if not b.text:
            continue
        kicker, title, subtitle = _sized_roles(head, [ln.bbox for ln in head + lines], body)
        out.append(_article(page, b, head, kicker, title, subtitle))
    return out


def _sized_roles(head: list[Line], boxes: list[Box], body: float = 0.0) -> tuple[str, str, str]:
    """(kicker, title, subtitle) of a headline group by type size and position: the title is
    set largest; what stands above it is the kicker, below it the subtitle. A line wrapped
    at the story's width runs on into the next without a space; printed phrases keep one."""
    if not head:
        return "", "", ""

    def size(ln: Line) -> float:
        # a headline line's box is as tall as its type (OCR measures a short line's pitch badly);
        # on a scan, a line of four characters or more is as wide as their ems (Chinese is set
        # on a grid: a surer measure than its ink's height)
        if not ln.bbox:
            return ln.font_size or 0.0
        text = "".join(ln.text.split())
        if not printed and len(text) >= 4:
            return (ln.bbox[2] - ln.bbox[0]) / sum(0.6 if ch.isascii() else 1.0 for ch in text)
        return min(ln.font_size or 0.0, ln.bbox[3] - ln.bbox[1])

    # a PDF gives the printed size (its em box); OCR an estimate, so a looser share of the title's
    printed = all(ln.bbox and abs((ln.font_size or 0) - (ln.bbox[3] - ln.bbox[1])) < 1e-3 * (ln.bbox[3] - ln.bbox[1])
                  for ln in head)
    # (OCR boxes a line of a character or two, a wrapped title's "出站", taller than the rest)
    top = max(size(ln) for ln in head if printed or len(ln.text.strip()) >= 4 or
              all(len(x.text.strip()) < 4 for x in head))
    # (a PDF's sizes are exact: a kicker or subtitle one point below the title is not title)
    big = [i for i, ln in enumerate(head) if size(ln) >= (0.97 if printed else 0.85) * top]
    lo, hi = big[0], big[-1]
    if not printed and hi - lo >= 1:
        # a kicker or subtitle one size below the title (10.5 pt to 12): on a scan, a first or
        # last line clearly narrower in pitch than every other line of the title, which agree
        # (measured on lines of ideographs only: punctuation and Latin set narrower)
        sized = {i: size(head[i]) for i in range(lo, hi + 1)
                 if re.fullmatch(r"[\u4e00-\u9fff]{4,}", "".join(head[i].text.split()))}

        # (the title's lines: those about as wide in pitch as the widest; a kicker and a
        # subtitle, each of one line or two, may stand round them)
        core = [v for v in sized.values() if v >= 0.93 * max(sized.values())] if sized else []

        def narrower(end: int) -> bool:
            return end in sized and max(core) <= 1.05 * min(core) and sized[end] < 0.93 * min(core)

        if narrower(lo):
            lo += 1
            # (a kicker wrapped over two lines ends on the second, the way kickers read)
            if lo < hi and not _KICKER_END.search(head[lo - 1].text.strip()) \
                    and _KICKER_END.search(head[lo - 1].text.strip() + head[lo].text.strip()):
                lo += 1
            while lo < hi and narrower(lo):
                lo += 1
        if hi > lo and narrower(hi):
            hi -= 1
            while hi > lo and narrower(hi):
                hi -= 1
    if hi == len(head) - 1 and len(head) > 1 and top < 1.6 * body:
        # all set in one small size (a title shrunk to fit a short story), or the title and
        # its subtitle so under a smaller kicker: the paper's wording tells a kicker ("…时强调")
        # and a subtitle ("——…", "…出席") from the title
        # (a kicker wrapped over two lines ends on the second, the way kickers read: "…时要求";
        # a subtitle opens with its dash)
        if lo == 0:
            lo = 1 if _KICKER_END.search(head[0].text.strip()) else 0
            if not lo and len(head) > 2 and re.search(r"(?:时|上)" + _KICKER_END.pattern, head[0].text + head[1].text):
                lo = 2
        dash = [j for j in range(lo + 1, len(head)) if head[j].text.lstrip().startswith(("——", "－－"))]
        if dash:
            hi = dash[0] - 1
        elif hi > lo and _SUBTITLE.search(head[hi].text.strip()):
            hi -= 1
    width = _union(boxes)[2] - _union(boxes)[0]

    def phrase(lines: list[Line]) -> str:
        out = ""
        for k, ln in enumerate(lines):
            text = " ".join(ln.text.split())
            prev = lines[k - 1]
            full = k and prev.bbox[2] - prev.bbox[0] >= width - 1.6 * (prev.font_size or 0)
            out = _glue(out, text) if full or not out else out + " " + text
        return out

    return phrase(head[:lo]), phrase(head[lo: hi + 1]), phrase(head[hi + 1:])


def _roles_model() -> bool:
    from ingest import line_roles

    return line_roles.available()


# the paper's own openings, the convention the rules were written for
_OWN_ANYWHERE = re.compile(r"本报[^\s，。；（(]{0,12}?讯|本报(?:特约)?评论员|[（(]上接")


def _opens(a: Article) -> bool:
    """The article's body opened with a formula (its byline or dateline came off it)."""
    return bool(a.byline) or a.continued_from_page is not None


def _segment_roles(page: Page) -> list[Article]:
    """Text layers by learned line roles: furniture and captions aside, a body starts at each
    line classified as a body's first, headline lines gather into runs, and each run goes to
    the body it stands above, or floats inside (after a body's first column), or ends."""
    from ingest.line_roles import predict

    lines = _join_marks(page.lines)
    roles = predict(lines)
    bodies: list[_Body] = []
    runs: list[tuple[list[tuple[Line, str]], int, int, bool]] = []  # lines, body before, body after, after starts it
    current: _Body | None = None
    run: list[tuple[Line, str]] | None = None
    before = -1
    for idx, (ln, role) in enumerate(zip(lines, roles)):
        if role in ("furniture", "caption"):
            continue
        if role in ("kicker", "title", "subtitle"):
            if run is not None and run and ln.block != run[-1][0].block and role in ("kicker", "title") \
                    and run[-1][1] in ("title", "subtitle"):
                # one story's headline ends (after its body) and the next one's begins
                runs.append((run, before, -1, False))
                run = None
            if run is None:
                run, before = [], len(bodies) - 1
            run.append((ln, role))
            continue
        # (an opening formula starts a story only where a paragraph may start: after a sentence's
        # end; a line of a paragraph may begin 据其发回的消息…)
        starts = role == "start" or current is None or current.closed or _OPENING.match(ln.text) is not None \
            and (not current.lines or _SENT_END.search(current.lines[-1].text) is not None)
        if run is not None and not starts and current.lines:
            # after a headline: a body that ended its sentence there gives way to the next story
            # (a headline floating inside a body stands at a column break mid-sentence), unless the
            # headline's words are more the body's so far (all of it: a headline floating after a
            # story's first column takes its words from anywhere in that column) than the next lines'
            prev_text = current.lines[-1].text
            run_text = "".join(x.text for x, _ in run)
            starts = bool(_SENT_END.search(prev_text)) and \
                _overlap(run_text, bigrams("".join(x.text for x in lines[idx: idx + 8]))) >= \
                _overlap(run_text, bigrams("".join(x.text for x in current.lines)))
        if starts:
            current = _Body()
            bodies.append(current)
        if run is not None:
            runs.append((run, before, len(bodies) - 1, starts))
            run = None
        m = _CONT_TO.search(ln.text)
        if m:
            text_before = ln.text[: m.start()].rstrip()
            if text_before:
                current.lines.append(replace(ln, text=text_before))
            current.continues_on_page = int(m.group(1))
            current.closed = True
            continue
        current.lines.append(ln)
    if run is not None:
        runs.append((run, len(bodies) - 1, -1, False))
    for b in bodies:
        if not b.lines:
            continue
        own, rest = _own_line_byline(b.lines)
        if own:
            b.byline = own
            _, b.text, b.continued_from_page = _byline(_join(rest))
        else:
            b.byline, b.text, b.continued_from_page = _byline(_join(b.lines))
        b.lead = bigrams(b.text[:200])
        b.grams = bigrams(b.text)
    # each headline run to the body it stands over or floats in (the first choice of text
    # layers) or the one it follows (a headline printed after its body), by what its words
    # share with the body; a body and a run taken once
    options = []
    for run, prev, nxt, starts_next in runs:
        text = "".join(ln.text for ln, _ in run)
        opts = []
        if nxt >= 0:
            opts.append((_overlap(text, bodies[nxt].grams) + (0.3 if starts_next else 0.6), nxt))
        if prev >= 0 and prev != nxt:
            opts.append((_overlap(text, bodies[prev].grams), prev))
        options.append(opts)
    headed = {b: runs[k][0] for k, b in _match_runs(options).items()}
    out = []
    for i, b in enumerate(bodies):
        if not b.text:
            continue
        run = headed.get(i, [])
        kicker, title, subtitle = _run_roles(run, b.lead)
        out.append(_article(page, b, [ln for ln, _ in run], kicker, title, subtitle))
    return out


# a byline's last name, cut short where the line ran out ("江南晚报评论员 何娜" / "桂")
_NAME_END = re.compile(r"(?:记者|通讯员|评论员|实习生)\s*([\u4e00-\u9fff·]{1,3})$")
# what follows a reporter's name in an "X reports" opening: "昆明报道"
_PLACE_REPORTS = re.compile(r"^([\u4e00-\u9fff]{2,6}报道)(?:\s+|$)")


def _own_line_byline(lines: list[Line]) -> tuple[str, list[Line]]:
    """A byline printed on a text layer's first line(s) of a body: (the byline, the body's lines
    after it), or ("", lines). A byline line wrapped at the column's width runs on into the next
    line: a second byline ("□本报记者 丁梅华" / "通讯员 康鸣霞"), the rest of a name up to a space or
    the line's end ("江南晚报评论员 何娜" / "桂"), a place reporting from ("封面新闻记者 雷敏" /
    "昆明报道 今晚…"). (Without geometry, a line as wide as the lines under it is a full one.)"""
    first = lines[0].text.strip()
    if len(lines) < 2 or not (_BYLINE_ONLY.match(first) or _OWN_BYLINE.match(first)):
        return "", lines
    text, rest = first, list(lines[1:])
    nxt = rest[0].text.strip()
    if _BYLINE_ONLY.match(nxt) or _OWN_BYLINE.match(nxt):
        text, rest = f"{text} {nxt}", rest[1:]
    elif len(rest) > 1:
        under = sorted(printed_width(ln.text.strip()) for ln in rest[:6])
        name = _NAME_END.search(first)
        if name and printed_width(first) >= under[len(under) // 2] - 1.5:
            after = nxt
            tail = re.match(r"([\u4e00-\u9fff]{1,2})(?:\s+|$)", after)
            if tail and 2 <= len(name.group(1)) + len(tail.group(1)) <= 3:
                text += tail.group(1)
                after = after[tail.end():]
            place = _PLACE_REPORTS.match(after)
            if place:
                after = after[place.end():]
            if after != nxt:
                rest = ([replace(rest[0], text=after)] if after else []) + rest[1:]
    return _clean_byline(_unbox(text)), rest


def _match_runs(options: list[list[tuple[float, int]]]) -> dict[int, int]:
    """Each run (in reading order) to one of its bodies, no body twice, for the largest sum of
    scores. ``options[k]``: (score, body) for run k, the body before it or after it. The runs'
    bodies never go back (a run's bodies stand at or after the ones of every run before it), so
    the best matching is found run by run, keeping the best for each last body taken."""
    best: dict[int, tuple[float, dict[int, int]]] = {-1: (0.0, {})}
    for k, opts in enumerate(options):
        nxt = dict(best)
        for last, (total, chosen) in best.items():
            for score, b in opts:
                score += 1e-6  # (a run given a body it shares no word with beats one given none)
                if b > last and (b not in nxt or nxt[b][0] < total + score):
                    nxt[b] = (total + score, {**chosen, k: b})
        best = nxt  # (one state per last body taken, the best way to it)
    return max(best.values(), key=lambda v: v[0])[1]


def _run_roles(run: list[tuple[Line, str]], lead: set[str]) -> tuple[str, str, str]:
    """(kicker, title, subtitle) of a headline run from its lines' learned roles."""
    if not run:
        return "", "", ""
    titles = [k for k, (_, role) in enumerate(run) if role == "title"]
    if not titles:
        return _roles([ln for ln, _ in run], lead)
    lo, hi = titles[0], titles[-1]
    texts = [" ".join(ln.text.split()) for ln, _ in run]
    longest = max(printed_width(t) for t in texts[lo: hi + 1])
    title = texts[lo]
    for k in range(lo + 1, hi + 1):
        # a line as long as the longest ran on into the next (wrapped); else a printed phrase
        title = _glue(title, texts[k]) if printed_width(texts[k - 1]) >= longest - 1 and len(texts[k]) <= 3 else title + " " + texts[k]
    return " ".join(texts[:lo]), title, " ".join(texts[hi + 1:])


def _segment_text(page: Page) -> list[Article]:
    lines = _join_marks(_drop_furniture(page.lines, page.paper))
    if not any(ln.font_size for ln in lines):
        lines = _unwrap_headlines(lines)
    page = replace(page, lines=lines)
    flags = _headline_flags(page.lines)
    bodies, runs = _split(page, flags)
    for b in bodies:
        b.byline, b.text, b.continued_from_page = _byline(_join(b.lines))
        b.grams = bigrams(b.text)
        b.lead = bigrams(b.text[:200])
    headed: dict[int, list[Line]] = {}
    for run in runs:
        free = [i for i in range(len(bodies)) if i not in headed]
        for b, group in _assign_run(run, bodies, free).items():
            headed[b] = group
    out = []
    for i, b in enumerate(bodies):
        if not b.text:
            continue
        kicker, title, subtitle = _roles(headed[i], b.lead) if i in headed else ("", "", "")
        out.append(_article(page, b, headed.get(i, []), kicker, title, subtitle))
    return out


def _union(boxes: list[Box]) -> Box | None:
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _place(page: Page, body: _Body, head: list[Line]) -> Place | None:
    """Where the article stands on the page, when its lines have boxes: each body line's
    span of the article text (whitespace aside, the text is the lines' characters in order,
    after the byline and marks taken off its start), their union, and the article's region."""
    boxed = [ln for ln in body.lines if ln.bbox]
    if not boxed:
        return None
    chars: list[int] = []  # for each non-space character of the lines, its line
    for k, ln in enumerate(body.lines):
        chars.extend(k for ch in ln.text if not ch.isspace())
    text = body.text
    offsets = [i for i, ch in enumerate(text) if not ch.isspace()]
    skip = len(chars) - len(offsets)  # the byline (and 上接 mark) taken off the start
    spans: dict[int, list[int]] = {}
    if skip >= 0:
        for n, i in enumerate(offsets):
            spans.setdefault(chars[skip + n], []).append(i)
    lines = tuple((min(v), max(v) + 1, body.lines[k].bbox) for k, v in sorted(spans.items()) if body.lines[k].bbox)
    region = _union([ln.bbox for ln in boxed] + [ln.bbox for ln in head if ln.bbox])
    return Place(image=page.image, size=page.size or (0.0, 0.0), region=region,
                 box=_union([b for _, _, b in lines]), lines=lines)
