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
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from rag.records import Article, Line, Page
from rag.text import bigrams

__all__ = ["segment_page"]

# Openings that start an article body.
_OPENING = re.compile(
    r"^(?:本报[^\s，。；（(]{0,12}?讯|本报(?:特约)?评论员|据[^，。]{1,24}?(?:报道|消息)|"
    r"(?:新华社|中新社)[^，。（(]{0,16}?电|[（(]上接第?\d+版[）)])"
)
# A line that is a byline and nothing else, e.g. "通讯员 王小明" or "本报评论员".
_BYLINE_ONLY = re.compile(
    r"^(?:本报(?:特约)?评论员|(?:本报)?(?:见习|特约)?(?:记者|通讯员)\s*[\u4e00-\u9fff·]{2,4}"
    r"(?:\s+(?:见习|特约)?(?:记者|通讯员)\s*[\u4e00-\u9fff·]{2,4})*)$"
)
_CONT_TO = re.compile(r"[（(]\s*(?:下)?转\s*第?\s*(\d+)\s*版\s*[）)]")
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
    return bool(_OPENING.match(s) or _BYLINE_ONLY.match(s))


def _ends_unit(s: str) -> bool:
    """The line ends a sentence or an article part, so what follows may be a headline."""
    return bool(_SENT_END.search(s) or _CONT_TO.search(s) or _BYLINE_ONLY.match(s))


def _headline_flags(lines: tuple[Line, ...]) -> list[bool]:
    sizes = [ln.font_size for ln in lines if ln.font_size]
    if sizes and len(sizes) == len(lines):
        body = sorted(sizes)[len(sizes) // 2]
        return [ln.font_size >= body * 1.15 and not _is_opening(ln.text) for ln in lines]
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
        prev_ok = i == 0 or lines[i - 1].block != lines[i].block or _ends_unit(lines[i - 1].text)
        next_ok = (
            j + 1 == len(lines)
            or lines[j + 1].block != lines[j].block
            or _is_opening(lines[j + 1].text)
        )
        if prev_ok and next_ok:
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


def _width(s: str) -> float:
    return sum(0.5 if ch.isascii() else 1.0 for ch in s)


def _join(lines: list[Line]) -> str:
    """Join column-broken lines; a line ending a sentence well short of its
    neighbours' width ends a paragraph (columns differ in width, so the
    neighbours in the same block are the reference, not the page)."""
    out: list[str] = []
    for i, ln in enumerate(lines):
        s = ln.text
        if out and out[-1] != "\n":
            prev = out[-1]
            if prev[-1:].isascii() and prev[-1:].isalnum() and s[:1].isascii() and s[:1].isalpha():
                out.append(" ")
        out.append(s)
        if i == len(lines) - 1 or not _SENT_END.search(s):
            continue
        near = [o for o in (lines[i - 1] if i else None, lines[i + 1]) if o is not None and o.block == ln.block]
        ref = max((_width(o.text) for o in near), default=0.0)
        if _width(s) < 0.75 * ref:
            out.append("\n")
    text = "".join(out)
    text = re.sub(r"(?<=\d)[ \t]+(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])[ \t]+(?=\d)", "", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return text.strip()


_ROLE = r"(?:本报)?(?:见习|特约)?(?:记者|通讯员|实习生|摄影|评论员)"


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
    return "", text, cont_from


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
    for step in (-1, 1):
        j = top + step
        while j in score and group[j].block == group[top].block and score[j] >= max(0.6 * score[top], 0.3):
            main.add(j)
            j += step
    lo, hi = min(main), max(main)
    kicker = [t for i, t in enumerate(texts) if i < lo and fixed.get(i) != "subtitle"]
    title = [texts[i] for i in range(lo, hi + 1)]
    subtitle = [t for i, t in enumerate(texts) if i > hi or (i < lo and fixed.get(i) == "subtitle")]
    return " ".join(kicker), " ".join(title), " ".join(subtitle)


# --- entry point ----------------------------------------------------------------


def segment_page(page: Page) -> list[Article]:
    """Split one page into articles, in reading order."""
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
        digest = hashlib.sha256(f"{page.key}|{title}|{b.text[:80]}".encode()).hexdigest()[:16]
        out.append(
            Article(
                article_id=digest,
                source_id=digest,
                paper=page.paper,
                date=page.date,
                page=page.page,
                title=title,
                kicker=kicker,
                subtitle=subtitle,
                byline=b.byline,
                text=b.text,
                continues_on_page=b.continues_on_page,
                continued_from_page=b.continued_from_page,
                page_key=page.key,
                source=page.source,
            )
        )
    return out
