"""Lines with boxes -> articles in reading order: columns, blocks, headlines over their bodies.

A PDF text layer or an OCR pass gives lines with boxes in no useful order. Newspaper pages
are laid out on column grids, so the page is read the way layout analysis reads them:

1. Lines are told apart by type size against the page's body size (the size most characters
   are set in): larger lines are headline material (kicker, title, subtitle, set vertically
   or not), smaller ones captions and page furniture.
2. Body lines stack into column blocks: a line joins the block right above it when it stands
   in the same column (its left edge within an indent of the block's, mostly inside its
   width), no further below than line spacing allows, and no rule lies between. The columns
   come from the lines themselves, not from a fixed width, so a page may mix grids.
3. Headline lines stack into headline groups the same way (their own spacing).
4. Each body block belongs to the headline group it stands under: the first thing above it
   within its width, captions and photos aside; a rule or another story's body in between
   means it does not. A block left over belongs to a vertical headline beside it, or to the
   story of the block it stands next to at the same height (a headline narrower than its
   story covers only its middle columns, or a photo pushes some of its columns down); blocks
   that belong to none are stories without a
   headline.
5. A story's blocks are read column by column, left to right, each top to bottom (an L-shaped
   story runs down its longer columns); stories top to bottom, then left to right.

The result is the page's lines in reading order with ``block`` numbering: ``2k`` the headline
group of the k-th story, ``2k + 1`` its body (all of its columns). Captions and furniture
(smaller type outside any story's body) are left out; segmentation reads stories from this.

Coordinates are page units with the origin at the top left (PDF points, or pixels of a
scan); a box is (x0, y0, x1, y1).
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from rag.records import Line
from rag.text import jieba_ready, printed_width

__all__ = ["Box", "reading_order", "union", "body_size"]

Box = tuple[float, float, float, float]

_HEAD = 1.12  # a line this much larger than the body is headline material
_NEAR_HEAD = 1.05  # ... or this much, right beside a headline (a subtitle one size up)
_SMALL = 0.87  # this much smaller: a caption or page furniture
_MARK = re.compile(r"^\s*[（(]?\s*[下上][转接]\s*第?\s*\d+\s*版\s*[）)]?\s*$")
_QUOTES = re.compile(r"[“”‘’\"']")
_MARK_END = re.compile(r"[（(]\s*下转\s*第?\s*\d+\s*版\s*[）)]?\s*$")


def union(boxes: Sequence[Box]) -> Box:
    """The smallest box holding all of ``boxes``."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _size(ln: Line) -> float:
    return ln.font_size or (ln.bbox[3] - ln.bbox[1])


def _printed(ln: Line) -> bool:
    """A PDF's em box: its height is the type size the file gives (OCR only estimates it)."""
    height = ln.bbox[3] - ln.bbox[1]
    return abs(_size(ln) - height) < 1e-3 * height


def body_size(lines: Sequence[Line]) -> float:
    """The type size most characters of the page are set in."""
    sized = sorted((_size(ln), len(ln.text)) for ln in lines)
    total = sum(n for _, n in sized)
    run = 0
    for s, n in sized:
        run += n
        if run >= total / 2:
            return s
    return 1.0


@dataclass
class _Block:
    kind: str  # "head", "body", "small"
    lines: list[Line] = field(default_factory=list)
    owner: int = -1  # the headline group (index into heads) it belongs to
    story: int = -1
    columns: list[list[Line]] = field(default_factory=list)  # a vertical headline's columns, right to left

    @property
    def box(self) -> Box:
        return union([ln.bbox for ln in self.lines])

    @property
    def last(self) -> Line:
        return self.lines[-1]

    @property
    def column(self) -> tuple[float, float]:
        """The column the block stands in: its lines' usual edges (one line OCR read across
        a gutter does not widen it)."""
        if len(self.lines) < 4:
            return self.box[0], self.box[2]
        x0s, x1s = sorted(x.bbox[0] for x in self.lines), sorted(x.bbox[2] for x in self.lines)
        return x0s[len(x0s) // 4], x1s[(3 * len(x1s)) // 4]


def _overlap(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0]))


def _vgap_clear(rules: Sequence[Box], x0: float, x1: float, top: float, bottom: float) -> bool:
    """No horizontal rule between ``top`` and ``bottom`` across the span x0..x1."""
    for r in rules:
        if r[2] - r[0] >= r[3] - r[1] and top - 1 <= (r[1] + r[3]) / 2 <= bottom + 1 and _overlap(r, (x0, 0, x1, 0)) > 0.3 * (x1 - x0):
            return False
    return True


def _hgap_clear(rules: Sequence[Box], left: float, right: float, y0: float, y1: float) -> bool:
    """No vertical rule between ``left`` and ``right`` along y0..y1."""
    for r in rules:
        if r[3] - r[1] > r[2] - r[0] and left - 1 <= (r[0] + r[2]) / 2 <= right + 1 and \
                min(r[3], y1) - max(r[1], y0) > 0.3 * (y1 - y0):
            return False
    return True


def _stack(lines: list[Line], kind: str, unit: float, rules: Sequence[Box], leading: float) -> list[_Block]:
    """Lines stacked into blocks: each joins the block whose last line stands right above it
    in the same column, or beside it on the same row inside the block's width."""
    blocks: list[_Block] = []
    for ln in sorted(lines, key=lambda ln: (ln.bbox[1], ln.bbox[0])):
        x0, y0, x1, y1 = ln.bbox
        s = _size(ln)
        best, best_gap = None, None
        for b in blocks[-400:]:
            # the column the block stands in: its lines' usual edges (one line OCR read across a
            # gutter does not widen it)
            bx0, bx1 = b.column
            last = b.last.bbox
            same_row = min(y1, last[3]) - max(y0, last[1]) > 0.5 * min(y1 - y0, last[3] - last[1])
            if same_row:
                # a piece of the same printed line (justified spaces split it) inside the column;
                # a piece of a headline's line, right beside it in the same type (OCR cut the
                # line at a wide space, around quotes: "法治渝中“宪”" / "在身边"), nearer than
                # any gutter between two stories' headlines (pieces of lines: not the
                # characters of a vertical headline's columns, side by side)
                lh, h = last[3] - last[1], y1 - y0
                if b.kind == kind and x0 >= bx0 - 0.5 * s and x1 <= bx1 + 0.5 * s and kind == "body" and len(b.lines) > 1:
                    gap = -1.0
                elif kind == "head" and -0.5 * unit < max(x0 - last[2], last[0] - x1) < (
                        2 * max(lh, h) if _under_one(b.lines, b.last, ln, unit) else 0.6 * unit) \
                        and min(lh, h) > 0.75 * max(lh, h) \
                        and (x1 - x0 > 1.5 * h and last[2] - last[0] > 1.5 * lh
                             or max(x1 - x0 - 4 * h, last[2] - last[0] - 4 * lh) > 0) \
                        and abs(y0 - last[1]) < 0.25 * max(lh, h) and abs(y1 - last[3]) < 0.25 * max(lh, h) \
                        and not _side_by_side(b.last, ln, lines):
                    gap = -1.0
                else:
                    continue
            else:
                gap = y0 - last[3]
                # (OCR's pieces of one vertical headline's column may overlap by half a character)
                stacked = kind == "head" and _column_of_text(ln) and _column_of_text(b.last) and -0.8 * s < gap
                if gap < -0.3 * s and not stacked or gap > leading * max(s, _size(b.last)):
                    continue
                ov = _overlap(ln.bbox, (bx0, 0, bx1, 0))
                if ov < 0.6 * min(x1 - x0, bx1 - bx0):
                    continue
                if kind == "body" and (abs(x0 - bx0) > 2.6 * s and x0 < bx0 or x1 > bx1 + 1.5 * s and len(b.lines) > 1):
                    continue  # another column's grid
                if not _vgap_clear(rules, max(x0, bx0), min(x1, bx1), last[3], y0):
                    continue
            if best_gap is None or gap < best_gap:
                best, best_gap = b, gap
        if best is None:
            best = _Block(kind)
            blocks.append(best)
        best.lines.append(ln)
    return blocks


def _set_in(ln: Line, column: Sequence[Line], body: float) -> bool:
    """Whether ``ln`` stands set in from both edges of ``column`` (two lines of it at least)
    by 0.3 body sizes: a line of a headline's, where a body line spans its column."""
    return len(column) >= 2 and ln.bbox[0] > min(o.bbox[0] for o in column) + 0.3 * body \
        and ln.bbox[2] < max(o.bbox[2] for o in column) - 0.3 * body


def _aligned(m: Box, x0: float, x1: float, tol: float) -> bool:
    """Whether a headline's line ``m`` stands centred on x0..x1, or flush with its left or
    right edge (a wrapped headline's lines stand so on one another)."""
    return abs((m[0] + m[2]) / 2 - (x0 + x1) / 2) < tol or abs(m[0] - x0) < tol or abs(m[2] - x1) < tol


def _next_rows(ln: Line, heads: Sequence[Line]) -> list[Line]:
    """Headline lines of about ``ln``'s height in the row right above or below it, under or
    over it: the lines of its headline before and after it, where it is wrapped."""
    x0, y0, x1, y1 = ln.bbox
    h = y1 - y0
    return [m for m in heads if m is not ln and _overlap(m.bbox, ln.bbox) > 0
            and abs((m.bbox[3] - m.bbox[1]) - h) < 0.35 * h
            and (-0.3 * h <= m.bbox[1] - y1 < h or -0.3 * h <= y0 - m.bbox[3] < h)]


def _side_by_side(a: Line, b: Line, heads: Sequence[Line]) -> bool:
    """Whether two pieces of a row of headline type are two stories' headlines side by side
    (a narrow gutter apart, OCR's boxes reaching into it), not one headline OCR cut at a wide
    space: a line of the row above or below stands centred or flush on one piece, on its
    side, and not so on both together."""
    p, q = sorted((a, b), key=lambda ln: ln.bbox[0])
    x0, x1 = p.bbox[0], q.bbox[2]
    n = printed_width(p.text.strip() + q.text.strip())
    if n < 4:
        return False
    tol = 0.6 * (x1 - x0) / n
    for m in _next_rows(p, heads) + _next_rows(q, heads):
        if m is a or m is b or _aligned(m.bbox, x0, x1, tol):
            continue
        if m.bbox[2] <= q.bbox[0] + tol and _aligned(m.bbox, p.bbox[0], p.bbox[2], tol) \
                or m.bbox[0] >= p.bbox[2] - tol and _aligned(m.bbox, q.bbox[0], q.bbox[2], tol):
            return True
    return False


def _gutter(body: Sequence[Line], g: float, pitch: float) -> tuple[float, float] | None:
    """The column gutter at about ``g`` in ``body`` (lines under a headline): where lines on
    its left end and lines on its right begin, none running across; None if there is none."""
    left = [o for o in body if g - 2 * pitch <= o.bbox[2] <= g + pitch and o.bbox[0] < g - pitch]
    right = [o for o in body if g - pitch <= o.bbox[0] <= g + 2 * pitch and o.bbox[2] > g + pitch]
    across = [o for o in body if o.bbox[0] < g - pitch and o.bbox[2] > g + pitch]
    if len(left) < 2 or len(right) < 2 or len(across) > 1:
        return None
    a, b = max(o.bbox[2] for o in left), min(o.bbox[0] for o in right)
    return (a, b) if a <= b else ((a + b) / 2, (a + b) / 2)


def _two_headlines(heads: list[Line], body: Sequence[Line], unit: float) -> list[Line]:
    """Headline lines with one OCR read across two stories' headlines side by side (a narrow
    gutter between them) cut at that gutter: a line of the row above or below stands centred
    or flush on a piece of it, not on the whole, and the columns under it have a gutter where
    that piece ends. The text is cut by the characters' pitch."""
    out = []
    for ln in heads:
        text = ln.text.strip()
        n = printed_width(text)
        x0, y0, x1, y1 = ln.bbox
        if n < 6 or _column_of_text(ln):
            out.append(ln)
            continue
        tol = 0.6 * (x1 - x0) / n
        under = [o for o in body if y1 <= o.bbox[1] < y1 + 15 * unit and o.bbox[0] < x1 and o.bbox[2] > x0]
        cut = None
        for m in _next_rows(ln, heads):
            mx0, _, mx1, _ = m.bbox
            if cut or _aligned(m.bbox, x0, x1, tol) or mx0 < x0 - tol or mx1 > x1 + tol:
                continue
            cm = (mx0 + mx1) / 2
            # where the left piece ends (m centred or flush right on it), or the right one begins
            for g in (2 * cm - x0, mx1, 2 * cm - x1, mx0):
                gut = _gutter(under, g, (x1 - x0) / n)
                if gut and (mx1 <= gut[0] + tol or mx0 >= gut[1] - tol):
                    cut = gut
                    break
        if cut is None:
            out.append(ln)
            continue
        pitch = (x1 - x0 - (cut[1] - cut[0])) / n
        run, k = 0.0, 0
        while k < len(text) and x0 + (run + 0.5 * printed_width(text[k])) * pitch <= cut[0]:
            run += printed_width(text[k])
            k += 1
        if run < 2 or n - run < 2:
            out.append(ln)
            continue
        out += [replace(ln, text=text[:k], bbox=(x0, y0, cut[0], y1)), replace(ln, text=text[k:], bbox=(cut[1], y0, x1, y1))]
    return out


def _under_one(group: list[Line], a: Line, b: Line, unit: float) -> bool:
    """Whether pieces ``a`` and ``b`` of one row stand under one line of ``group`` that spans
    them both, right above them: pieces of a subtitle or byline OCR cut at a wide space
    ("韩鹏主" / "持并讲话"), not two stories' headlines side by side."""
    x0, x1 = min(a.bbox[0], b.bbox[0]), max(a.bbox[2], b.bbox[2])
    top, h = min(a.bbox[1], b.bbox[1]), max(a.bbox[3] - a.bbox[1], b.bbox[3] - b.bbox[1])
    return any(0 <= top - t.bbox[3] < 1.5 * h and t.bbox[0] <= x0 + 0.5 * unit and t.bbox[2] >= x1 - 0.5 * unit
               for t in group if t is not a and t is not b)


def _leading(lines: list[Line]) -> float:
    """The usual space between a body line and the next one under it, in type sizes (PDF
    boxes span the whole em, OCR boxes only the ink: ~0.5 and ~0.6 on the same page)."""
    gaps = []
    by_top = sorted(lines, key=lambda ln: ln.bbox[1])
    for i, ln in enumerate(by_top):
        for nxt in by_top[i + 1: i + 40]:
            if nxt.bbox[1] >= ln.bbox[3] - 0.2 * _size(ln) and _overlap(ln.bbox, nxt.bbox) > 0.5 * (ln.bbox[2] - ln.bbox[0]):
                gaps.append((nxt.bbox[1] - ln.bbox[3]) / _size(ln))
                break
    return min(statistics.median(gaps), 0.9) if gaps else 0.5  # sparse pages pair far lines


def _gridded(by_top: list[Line], unit: float, tall: float, pitch: float) -> set[int]:
    """Lines OCR measured larger than body type that stand on the body's baseline grid: one
    line pitch above or below a body line of their column (its left edge at theirs, or a
    paragraph's indent from it), that line measured about body type (OCR measures a line
    with narrow punctuation or digits smaller, never a headline's) or found so itself. A
    kicker or subtitle stands off that grid (its type is larger, and so is its leading); a
    line OCR measured larger does not stand for the grid until it is found on it (a small
    headline's short last line, "机的", may measure as body)."""
    tops = [ln.bbox[1] for ln in by_top]
    support = [ln for ln in by_top if 0.8 * unit < _size(ln) < _NEAR_HEAD * unit]
    # (OCR's box of a line of a character or two, "菜。", stands taller round its ink)
    # (and so does a line with quotation marks, set high: "”国民党昨天召开全代")
    todo = {id(ln): ln for ln in by_top if _size(ln) >= _NEAR_HEAD * unit
            and ln.bbox[3] - ln.bbox[1] <= (1.7 if len(ln.text.strip()) <= 3 or _QUOTES.search(ln.text) else 1.5) * tall}
    # where each line's printed line begins: OCR cut some lines in two or more at a wide space
    # or a comma it dropped ("流行" / "歌曲《求佛》。", "23.50亿元" / "同比下降") and measured one
    # piece larger than the other; pieces of one row, each near the next, from the left, up to
    # where a column begins (a gutter may be narrower than a dropped comma)
    # (and where it ends, the same way)
    begins: dict[int, float] = {}
    ends: dict[int, float] = {}
    for ln in [ln for ln in by_top if id(ln) in todo] + support:
        x0, y0, x1, y1 = ln.bbox
        row = sorted((o for o in by_top[bisect.bisect_left(tops, y0 - tall): bisect.bisect_right(tops, y1)]
                      if o is not ln and min(y1, o.bbox[3]) - max(y0, o.bbox[1]) > 0.5 * min(y1 - y0, o.bbox[3] - o.bbox[1])),
                     key=lambda o: o.bbox[0])
        near = _near(by_top, tops, ln, unit, (ln,))
        left = x0
        for o in reversed(row):
            if o.bbox[2] <= left and left - o.bbox[2] < 2.5 * unit:
                if _column_edge(left, near, unit, ln.bbox):
                    break
                left = o.bbox[0]
        right = x1
        for o in row:
            if o.bbox[0] >= right and o.bbox[0] - right < 2.5 * unit:
                if _column_edge(o.bbox[0], near, unit, ln.bbox):
                    break
                right = o.bbox[2]
        begins[id(ln)], ends[id(ln)] = left, right
    found: set[int] = set()
    while support and todo:
        nxt = []
        for o in support:
            ocy = (o.bbox[1] + o.bbox[3]) / 2
            # (the supporting line's printed line, where it was found cut in two)
            o0, o1 = begins.get(id(o), o.bbox[0]), ends.get(id(o), o.bbox[2])
            for ln in by_top[bisect.bisect_left(tops, o.bbox[1] - 2 * pitch): bisect.bisect_right(tops, o.bbox[3] + 2 * pitch)]:
                if id(ln) not in todo:
                    continue
                x0, y0, x1, y1 = ln.bbox
                step = abs((y0 + y1) / 2 - ocy)
                # (within a tenth of a pitch: a small title's lines and the subtitle in body type
                # under them stand some 1.1-1.15 pitches apart, their own leading; a fifth for a
                # line whose box stands taller round its ink, a quotation mark set high or a
                # character or two)
                loose = len(ln.text.strip()) <= 3 or _QUOTES.search(ln.text)
                if abs(step - pitch) >= (0.2 if loose else 0.1) * pitch:
                    continue
                # its left edge, or its printed line's (a line cut in two keeps within the
                # column), at the column's, and under it (a paragraph's two-em indent reads up to
                # three of OCR's body sizes, which run below the printed em)
                for e0 in (x0, begins[id(ln)]) if x1 <= o1 + 0.5 * unit else (x0,):
                    c0 = min(o0, e0)  # (the column's left edge: a paragraph's first line is indented)
                    if min(abs(o.bbox[0] - e0), abs(o0 - e0)) <= 3.0 * unit and _overlap((c0, 0, o1, 0), (e0, 0, x1, 0)) > 0.5 * min(o1 - c0, x1 - e0):
                        found.add(id(ln))
                        nxt.append(todo.pop(id(ln)))
                        break
        support = nxt
    return found


def _pitch(lines: list[Line], unit: float) -> float:
    """The usual distance from a body line's middle to the next one's under it in its column
    (0 when the page has too few such pairs to tell)."""
    by_top = sorted(lines, key=lambda ln: ln.bbox[1])
    steps = []
    for i, ln in enumerate(by_top):
        cy = (ln.bbox[1] + ln.bbox[3]) / 2
        for nxt in by_top[i + 1: i + 40]:
            if nxt.bbox[1] >= ln.bbox[1] + 0.5 * unit and _overlap(ln.bbox, nxt.bbox) > 0.5 * min(
                    ln.bbox[2] - ln.bbox[0], nxt.bbox[2] - nxt.bbox[0]):
                steps.append((nxt.bbox[1] + nxt.bbox[3]) / 2 - cy)
                break
    return statistics.median(steps) if len(steps) >= 5 else 0.0


def _row_text(lines: list[Line]) -> list[Line]:
    """A block's lines with the pieces of one printed line joined, left to right."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: (ln.bbox[1] + ln.bbox[3]) / 2):
        if rows:
            p = union([x.bbox for x in rows[-1]])
            b = ln.bbox
            if min(p[3], b[3]) - max(p[1], b[1]) > 0.5 * min(p[3] - p[1], b[3] - b[1]):
                rows[-1].append(ln)
                continue
        rows.append([ln])
    out = []
    for row in rows:
        row.sort(key=lambda ln: ln.bbox[0])
        text = row[0].text
        for ln in row[1:]:
            latin = text[-1:].isascii() and text[-1:].isalnum() and ln.text[:1].isascii() and ln.text[:1].isalnum()
            text += (" " if latin else "") + ln.text
        out.append(replace(row[0], text=text, bbox=union([ln.bbox for ln in row]),
                           font_size=max(_size(ln) for ln in row) if len(row) > 1 else row[0].font_size))
    return out


def reading_order(lines: Sequence[Line], rules: Sequence[Box] = ()) -> tuple[Line, ...]:
    """The page's stories in reading order: each headline group (block ``2k``), then its body
    (block ``2k + 1``), column by column. Captions and furniture outside stories are left out.

    Args:
        lines: lines with boxes (their ``block`` is ignored); lines without one are dropped.
        rules: rules printed on the page (thin boxes), which stories never run across.
    """
    boxed = [ln for ln in lines if ln.bbox is not None and ln.text.strip()]
    if not boxed:
        return ()
    # a vertical headline OCR read as one line: its type is as large as its box is wide
    boxed = [replace(ln, font_size=ln.bbox[2] - ln.bbox[0]) if _column_of_text(ln) else ln for ln in boxed]
    body = body_size(boxed)
    heights = sorted(ln.bbox[3] - ln.bbox[1] for ln in boxed if abs(_size(ln) - body) < 0.1 * body) or [body]
    tall = heights[len(heights) // 2]
    # pieces of one printed line first joined (within a column), then a body line OCR read
    # across a column gutter cut where a column begins
    pieces = [ln for ln in boxed if abs(_size(ln) - body) < 0.15 * body]
    boxed = [ln for ln in boxed if abs(_size(ln) - body) >= 0.15 * body] + _join_pieces(pieces, body)
    bodyish = {id(ln): "body" for ln in boxed if abs(_size(ln) - body) < 0.15 * body}
    forced: set[int] = set()
    split = []
    grid = _pitch([ln for ln in boxed if abs(_size(ln) - body) < 0.1 * body], body)
    for ln in boxed:
        height = ln.bbox[3] - ln.bbox[1]
        # (a PDF's text layer gives em boxes, their height the type size: its reader ends lines
        # at gutters by the characters' own positions, better than a guess from edges here)
        if height <= 1.4 * tall and abs(_size(ln) - body) < 0.15 * body and not _printed(ln):  # body type
            parts = _across_gutters(ln, boxed, bodyish, body, grid)
            if len(parts) > 1:
                forced.update(id(p) for p in parts)
            split += parts
        else:
            split.append(ln)
    boxed = split

    # sizes OCR measured, not a PDF's text layer, which gives each line's printed size in its
    # em box (OCR sizes a short line by its box's height: the same, by chance)
    ocr_sized = sum(1 for ln in boxed if not _printed(ln)) > len(boxed) / 2

    def small(ln: Line) -> bool:
        # OCR measures a short line's size from few characters (punctuation is narrow): such a
        # line is small only when its box is short too
        height = ln.bbox[3] - ln.bbox[1]
        # a PDF em box: the size is the printed one (OCR gives a short line its box's height)
        exact = abs(_size(ln) - height) < 1e-3 * height and not ocr_sized
        if _MARK.match(ln.text) or _MARK_END.search(ln.text):
            # a continuation mark, OCR's brackets lost or not: it ends its story (set a size
            # below body type, it makes the story's last line, "各地还要（下转8版）", measure small)
            return False
        # (a short line of body type OCR measured small stands on its column's baseline grid; a
        # caption's last line, "（记者姚怡摄）", over a story's first body line stands off it:
        # small, as far as OCR measured it up to 0.95 body)
        off_grid = bool(pitch and ocr_sized and len(ln.text) < 8 and not on_grid(ln))
        if ocr_sized and _size(ln) < 0.7 * body and len(ln.text.strip()) >= 5:
            # (five characters or more measured under 0.7 body are a caption's, "（记者夏鸣摄）",
            # even one pitch over a story's first line)
            return True
        if _size(ln) > _SMALL * body:
            return _size(ln) <= 0.95 * body and off_grid
        if ocr_sized and pitch and _size(ln) > 0.8 * body and height > 0.8 * tall and on_grid(ln):
            # (a body line with narrow punctuation, "本报讯（记者韩冰、", OCR measured some 0.85
            # body: on its column's baseline grid, a body line's height)
            return False
        return exact or len(ln.text) >= 8 or height <= 0.8 * tall or off_grid

    by_top = sorted(boxed, key=lambda o: o.bbox[1])
    tops = [o.bbox[1] for o in by_top]

    def sandwiched(ln: Line) -> bool:
        """Body-sized lines right above and right below it, in its column."""
        x0, y0, x1, y1 = ln.bbox
        near = by_top[bisect.bisect_left(tops, y0 - 2.5 * tall): bisect.bisect_right(tops, y1 + 1.5 * tall)]
        col = [o for o in near if o is not ln and abs(_size(o) - body) < 0.15 * body
               and _overlap(o.bbox, ln.bbox) > 0.5 * min(o.bbox[2] - o.bbox[0], x1 - x0)]
        return any(o.bbox[3] <= y0 + 0.3 * tall for o in col) and any(o.bbox[1] >= y1 - 0.3 * tall for o in col)

    # body lines stand on their column's baseline grid, one line pitch apart: a line OCR
    # measured larger (it dropped characters, or Latin letters and digits are set wider than
    # the half em it counts them at) that stands on it, in a column of body lines, is body type
    pitch = _pitch([ln for ln in by_top if abs(_size(ln) - body) < 0.1 * body], body)

    def on_grid(ln: Line) -> bool:
        """A line of about body type one line pitch above or below it, in its column."""
        x0, y0, x1, y1 = ln.bbox
        cy = (y0 + y1) / 2
        for o in by_top[bisect.bisect_left(tops, y0 - 2 * pitch): bisect.bisect_right(tops, y1 + 2 * pitch)]:
            if o is not ln and 0.75 * body < _size(o) < 1.4 * body and _overlap(o.bbox, ln.bbox) > 0.5 * min(x1 - x0, o.bbox[2] - o.bbox[0]) \
                    and abs(abs((o.bbox[1] + o.bbox[3]) / 2 - cy) - pitch) < 0.1 * pitch:
                return True
        return False

    gridded = _gridded(by_top, body, tall, pitch) if pitch and ocr_sized else set()

    def head(ln: Line) -> bool:
        # a headline's box is taller than the body's; a line as short as body lines and set
        # between them is body type whose pitch OCR overstated (it dropped characters), and
        # so is one on the body's baseline grid
        height = ln.bbox[3] - ln.bbox[1]
        # (a glyph set sideways in a vertical headline, "/", has a box as wide as its type, and shorter)
        sideways = height < _size(ln) <= ln.bbox[2] - ln.bbox[0] < 1.3 * _size(ln)
        if _size(ln) < _HEAD * body:
            return False
        if id(ln) in gridded and not sideways:
            return False
        return height >= 1.05 * tall or height >= tall and not sandwiched(ln) or sideways

    kind = {id(ln): "body" if id(ln) in forced else "head" if head(ln) else "small" if small(ln)
            else "body" for ln in boxed}
    # a line one size up right beside a headline is part of its group (a subtitle, a kicker)
    # (and so is a line of that size beside it: a kicker of two phrases)
    grown = True
    while grown:
        grown = False
        heads_lines = [ln for ln in boxed if kind[id(ln)] == "head"]
        for ln in boxed:
            if kind[id(ln)] == "body" and _size(ln) >= _NEAR_HEAD * body and id(ln) not in gridded:
                for h in heads_lines:
                    near = min(abs(ln.bbox[1] - h.bbox[3]), abs(h.bbox[1] - ln.bbox[3])) < 0.8 * _size(ln)
                    if near and _overlap(ln.bbox, h.bbox) > 0.5 * min(ln.bbox[2] - ln.bbox[0], h.bbox[2] - h.bbox[0]):
                        kind[id(ln)] = "head"
                        grown = True
                        break
    # a subtitle in body type right under a centred headline: centred on the headline's axis
    # and set in from both edges of the column under it (a body line spans its column, a
    # paragraph's first line runs to the right edge, its last starts at the left edge)
    for h in [ln for ln in boxed if kind[id(ln)] == "head"]:
        hc = (h.bbox[0] + h.bbox[2]) / 2
        for ln in boxed:
            if kind[id(ln)] != "body" or not 0 <= ln.bbox[1] - h.bbox[3] < 0.8 * _size(ln) \
                    or abs((ln.bbox[0] + ln.bbox[2]) / 2 - hc) > 0.5 * body:
                continue
            under = [o for o in boxed if kind[id(o)] == "body" and o is not ln and 0 <= o.bbox[1] - ln.bbox[3] < 4 * tall
                     and _overlap(o.bbox, ln.bbox) > 0.5 * (ln.bbox[2] - ln.bbox[0])]
            if _set_in(ln, under, body):
                kind[id(ln)] = "head"
    # and a kicker in body type right over one: centred on its axis, set in from both edges of
    # the column under the headline group, and no body line right above it (not the last line
    # of a column over the headline)
    for h in [ln for ln in boxed if kind[id(ln)] == "head"]:
        hc = (h.bbox[0] + h.bbox[2]) / 2
        for ln in boxed:
            if kind[id(ln)] != "body" or not 0 <= h.bbox[1] - ln.bbox[3] < 0.8 * _size(ln) \
                    or abs((ln.bbox[0] + ln.bbox[2]) / 2 - hc) > 0.5 * body or len(ln.text.strip()) < 4:
                continue
            col = [o for o in boxed if kind[id(o)] == "body" and o is not ln and _overlap(o.bbox, ln.bbox) > 0.5 * (ln.bbox[2] - ln.bbox[0])]
            if any(0 <= ln.bbox[1] - o.bbox[3] < 1.5 * tall for o in col):
                continue
            under = sorted((o for o in col if o.bbox[1] > h.bbox[3] and o.bbox[1] - h.bbox[3] < 10 * tall), key=lambda o: o.bbox[1])[:3]
            if _set_in(ln, under, body):
                kind[id(ln)] = "head"
    joined = _join_pieces([ln for ln in boxed if kind[id(ln)] == "body"], body, frozenset(forced))
    kind.update({id(ln): "body" for ln in joined})
    boxed = [ln for ln in boxed if kind[id(ln)] != "body"] + joined
    lead = _leading([ln for ln in boxed if kind[id(ln)] == "body"])
    # a line OCR measured small (a paragraph's short last line, narrow punctuation) that stands
    # right under a body line, at its column's left edge and within its width, is body type
    body_lines = [ln for ln in boxed if kind[id(ln)] == "body"]
    for ln in sorted((ln for ln in boxed if kind[id(ln)] == "small"), key=lambda ln: ln.bbox[1]):
        if _size(ln) < 0.6 * body:
            continue
        for o in body_lines:
            if 0 <= ln.bbox[1] - o.bbox[3] <= (lead + 0.6) * body and abs(ln.bbox[0] - o.bbox[0]) < 2.6 * body \
                    and ln.bbox[2] <= o.bbox[2] + 0.5 * body:
                kind[id(ln)] = "body"
                body_lines.append(ln)
                break
    body_blocks = _stack([ln for ln in boxed if kind[id(ln)] == "body"], "body", body, rules, lead + 0.6)
    heads = _stack(_two_headlines([ln for ln in boxed if kind[id(ln)] == "head"],
                                  [ln for ln in boxed if kind[id(ln)] == "body"], body), "head", body, rules, 0.9)
    smalls = _stack([ln for ln in boxed if kind[id(ln)] == "small"], "small", body, rules, lead + 0.6)
    heads = _vertical_columns(heads)
    _own(body_blocks, heads, smalls, rules, body)
    return _emit(body_blocks, heads, body)


def _near(by_y: list[Line], tops: list[float], ln: Line, unit: float, skip: tuple = ()) -> list[Line]:
    """Lines whose tops stand within twelve body lines' heights of ``ln``'s (``by_y`` sorted by
    top, ``tops`` their tops)."""
    lo = bisect.bisect_left(tops, ln.bbox[1] - 12 * unit)
    hi = bisect.bisect_right(tops, ln.bbox[1] + 12 * unit)
    return [o for o in by_y[lo:hi] if all(o is not x for x in skip)]


def _column_edge(e: float, near: list[Line], unit: float, row: Box | None = None) -> bool:
    """Whether a column begins at ``e``: at least two lines nearby start there, and at most one
    line of a column's usual width (one OCR read across the gutter) runs across it, which
    every line does at a paragraph's indent. Given the ``row`` a scan's line stands on, lines
    above or below the column's and the row's (a kicker or byline over its story's columns,
    OCR measured about body type) cross no gutter."""
    if not near:
        return False
    usual = statistics.median(o.bbox[2] - o.bbox[0] for o in near)
    starts = [o for o in near if abs(o.bbox[0] - e) < 0.4 * unit]
    if len(starts) < 2:
        return False
    top = min([row[1]] + [o.bbox[1] for o in starts]) - unit if row else float("-inf")
    bottom = max([row[3]] + [o.bbox[3] for o in starts]) + unit if row else float("inf")
    across = sum(1 for o in near if o.bbox[0] < e - 0.5 * unit and o.bbox[2] > e + 0.5 * unit
                 and o.bbox[2] - o.bbox[0] < 1.8 * usual and o.bbox[3] > top and o.bbox[1] < bottom)
    return across <= 1


def _join_pieces(lines: list[Line], unit: float, apart: frozenset[int] = frozenset()) -> list[Line]:
    """Pieces of one printed line joined again: justification spreads a short line ("本 报 讯")
    and the readers cut it at the wide spaces; a line just above or below runs across the
    space, which a gutter never has. Lines whose ids are in ``apart`` were cut at a column's
    gutter and stay apart."""
    by_y = sorted(lines, key=lambda ln: ln.bbox[1])
    tops = [ln.bbox[1] for ln in by_y]
    rows: list[list[Line]] = []
    for ln in by_y:
        if rows and min(ln.bbox[3], rows[-1][0].bbox[3]) - max(ln.bbox[1], rows[-1][0].bbox[1]) > \
                0.5 * min(ln.bbox[3] - ln.bbox[1], rows[-1][0].bbox[3] - rows[-1][0].bbox[1]):
            rows[-1].append(ln)
        else:
            rows.append([ln])
    widths = sorted(ln.bbox[2] - ln.bbox[0] for ln in lines)
    usual = widths[len(widths) // 2] if widths else 0.0
    out = []
    for row in rows:
        row.sort(key=lambda ln: ln.bbox[0])
        cur = row[0]
        for ln in row[1:]:
            a0, a1 = cur.bbox[2], ln.bbox[0]
            merged = False
            if 0 <= a1 - a0 < 3 * unit and not (id(cur) in apart and id(ln) in apart) \
                    and not _column_edge(a1, _near(by_y, tops, cur, unit, (cur, ln)), unit,
                                        None if _printed(cur) else union([cur.bbox, ln.bbox])):
                lo = bisect.bisect_left(tops, cur.bbox[1] - 3 * unit)
                hi = bisect.bisect_right(tops, cur.bbox[3] + 2 * unit)
                for o in by_y[lo:hi]:
                    if o is cur or o is ln or o in row:
                        continue
                    # (a line of a column's usual width: one OCR read across a gutter proves nothing;
                    # of the same type: a PDF's folio a point smaller runs across gutters too)
                    if o.bbox[0] < a0 - 0.2 * unit and o.bbox[2] > a1 + 0.2 * unit and o.bbox[2] - o.bbox[0] < 1.8 * usual \
                            and not (_printed(o) and _printed(cur) and abs(_size(o) - _size(cur)) > 0.05 * _size(cur)):
                        latin = cur.text[-1:].isascii() and cur.text[-1:].isalnum() and ln.text[:1].isascii() \
                            and ln.text[:1].isalnum()
                        # (its size: the pieces' by their characters; OCR sizes a short piece,
                        # "本报讯", by its ink's height)
                        n0, n1 = len(cur.text.strip()), len(ln.text.strip())
                        size = (_size(cur) * n0 + _size(ln) * n1) / max(n0 + n1, 1)
                        cur = replace(cur, text=cur.text + (" " if latin else "") + ln.text,
                                      bbox=union([cur.bbox, ln.bbox]),
                                      font_size=size if cur.font_size and ln.font_size else cur.font_size)
                        merged = True
                        break
            if not merged:
                out.append(cur)
                cur = ln
        out.append(cur)
    return out


def _across_gutters(ln: Line, lines: list[Line], kind: dict, unit: float, grid: float = 0.0) -> list[Line]:
    """A body line OCR read across a column gutter, cut where a column begins: a left edge
    that at least two body lines just above or below it start at, inside this line. The
    text is cut by the characters' pitch (Chinese is set on a grid). ``grid``: the body's
    line pitch (0: not known)."""
    x0, y0, x1, y1 = ln.bbox
    if x1 - x0 < 6 * unit or not ln.text.strip():
        return [ln]
    near = [o for o in lines if o is not ln and kind.get(id(o)) == "body" and abs(o.bbox[1] - y0) < 12 * unit]
    if not near:
        return [ln]
    usual = statistics.median(o.bbox[2] - o.bbox[0] for o in near)
    # columns begin where lines begin, near this one or (a page set on one grid) anywhere;
    # not where a paragraph's first line begins, two characters in
    local = sorted(o.bbox[0] for o in near if x0 + 2.3 * unit < o.bbox[0] < x1 - 0.8 * unit)
    page = sorted(o.bbox[0] for o in lines if o is not ln and kind.get(id(o)) == "body"
                  and x0 + 2.3 * unit < o.bbox[0] < x1 - 0.8 * unit)
    cut = None
    for e in sorted(set(local) | set(page)):
        support = max(sum(1 for f in local if abs(f - e) < 0.4 * unit), sum(1 for f in page if abs(f - e) < 0.4 * unit) // 3)
        # a column's edge, not a paragraph's indent: no line of the usual width runs across it
        across = sum(1 for o in near if o.bbox[0] < e - 0.5 * unit and o.bbox[2] > e + 0.5 * unit
                     and o.bbox[2] - o.bbox[0] < 1.8 * usual)
        if support >= 2 and across <= 1:
            cut = e
            break
    if cut is None:
        return [ln]
    # a line read across a gutter stands in both columns' stacks of lines: a column's line
    # right above or below it on each side (a kicker over two columns has none); that line
    # may itself run a character or two over the gutter (OCR read it across too)
    # (one line pitch away, where the page's pitch is known: a caption in small type over two
    # columns' first lines stands off their grid)
    def stacked(side) -> bool:
        return any(side(o) and (0 <= o.bbox[1] - y1 <= 1.2 * unit or 0 <= y0 - o.bbox[3] <= 1.2 * unit)
                   and (not grid or abs(abs(o.bbox[1] + o.bbox[3] - y0 - y1) / 2 - grid) < 0.1 * grid) for o in near)
    if not (stacked(lambda o: o.bbox[0] < cut - 2 * unit and o.bbox[2] <= cut + 2.5 * unit)
            and stacked(lambda o: o.bbox[2] > cut + 2 * unit and o.bbox[0] >= cut - 2.5 * unit)):
        return [ln]
    text = ln.text
    total = printed_width(text) or 1.0
    pitch = (x1 - x0) / total
    run, k = 0.0, 0
    while k < len(text) and x0 + (run + printed_width(text[k])) * pitch <= cut - 0.5 * unit:
        run += printed_width(text[k])  # up to the last character whose right edge stands before the gutter
        k += 1
    if k == len(text):
        return [ln]
    left, right = text[:k].rstrip(), text[k:].lstrip()
    if not left or not right:
        return [ln]
    a = replace(ln, text=left, bbox=(x0, y0, x0 + run * pitch, y1))
    b = replace(ln, text=right, bbox=(cut, y0, x1, y1))
    return [a] + _across_gutters(b, lines, kind, unit, grid)


def _column_of_text(ln: Line) -> bool:
    """One line whose characters stand one under another (OCR reads a vertical headline so):
    a box several times taller than wide, about a character's width per character."""
    x0, y0, x1, y1 = ln.bbox
    n = len(ln.text.strip())
    return n >= 3 and y1 - y0 > 2.5 * (x1 - x0) and 0.6 * n * (x1 - x0) < y1 - y0 < 1.5 * n * (x1 - x0)


def _vertical(h: _Block) -> bool:
    x0, y0, x1, y1 = h.box
    return y1 - y0 > 2.5 * (x1 - x0) and (len(h.lines) >= 3 or any(_column_of_text(ln) for ln in h.lines))


def _vertical_columns(heads: list[_Block]) -> list[_Block]:
    """A vertical headline too long for its strip runs on in the column to its left: one group,
    its columns read right to left. Characters of two columns that stand level (a column's
    top and the next one's) were read as one line across: they are cut apart again."""
    cut: list[_Block] = []
    for h in heads:
        if _vertical(h):
            widths = sorted(ln.bbox[2] - ln.bbox[0] for ln in h.lines)
            one = widths[len(widths) // 2]
            keep, spill = [], []
            for ln in h.lines:
                n = len(ln.text)
                if n >= 2 and ln.bbox[2] - ln.bbox[0] > 1.6 * one and abs((ln.bbox[2] - ln.bbox[0]) - n * one) < n * 0.5 * one:
                    x0, y0, x1, y1 = ln.bbox
                    keep.append(replace(ln, text=ln.text[-1], bbox=(x1 - one, y0, x1, y1)))
                    spill += [replace(ln, text=ch, bbox=(x0 + k * (x1 - x0) / n, y0, x0 + k * (x1 - x0) / n + one, y1))
                              for k, ch in enumerate(ln.text[:-1])]
                else:
                    keep.append(ln)
            h.lines = keep
            cut += [_Block("head", [ln]) for ln in spill]
    out: list[_Block] = []
    for h in sorted(heads + cut, key=lambda h: -h.box[0]):
        hx0, hy0, hx1, hy1 = h.box
        # (a column's last character or two, "况", are a narrow block of their own)
        tail = hx1 - hx0 < 1.5 * max(_size(ln) for ln in h.lines)
        if _vertical(h) or tail:
            for o in out:
                ox0, oy0, ox1, oy1 = o.box
                if _vertical(o) and 0 <= ox0 - hx1 < 0.8 * (ox1 - ox0) and abs(oy0 - hy0) < (ox1 - ox0) \
                        and abs((hx1 - hx0) - (ox1 - ox0)) < 0.3 * (ox1 - ox0):
                    o.columns = (o.columns or [o.lines[:]]) + [h.lines]
                    o.lines = o.lines + h.lines
                    break
            else:
                out.append(h)
        else:
            out.append(h)
    return out


def _own(blocks: list[_Block], heads: list[_Block], smalls: list[_Block], rules: Sequence[Box], unit: float) -> None:
    """Give each body block the headline group it belongs to (``owner``), or none (-1)."""
    # A headline stands over its story's width, which may be wider than its ink (a short
    # headline, centred or set left): it reaches out to what stands beside it at its height
    # (another headline, a body column, a rule) or to the edge of the page's text.
    left_edge = min(b.box[0] for b in blocks + heads) if blocks or heads else 0.0
    right_edge = max(b.box[2] for b in blocks + heads) if blocks or heads else 0.0
    spans = []
    for h in heads:
        hx0, hy0, hx1, hy1 = h.box
        lo, hi = left_edge, right_edge
        for o in [x for x in heads + blocks if x is not h]:
            ox0, oy0, ox1, oy1 = o.box
            if oy0 < hy1 - 0.1 * unit and oy1 > hy0 - unit:  # beside it, not under it
                if ox1 <= hx0 + 0.5 * unit:
                    lo = max(lo, ox1)
                elif ox0 >= hx1 - 0.5 * unit:
                    hi = min(hi, ox0)
        for r in rules:
            if r[3] - r[1] > r[2] - r[0] and min(r[3], hy1) - max(r[1], hy0) > 0:
                mid = (r[0] + r[2]) / 2
                if mid <= hx0:
                    lo = max(lo, mid)
                elif mid >= hx1:
                    hi = min(hi, mid)
        spans.append((lo, hy0, hi, hy1))
    # 1. the first thing above the block within its width: a headline group owns it (not a
    #    block whose top stands level with a vertical headline beside it: that one owns it, 2.)
    contested: dict[int, list[int]] = {}  # block -> the headlines level with its owner that could own it too
    for i, b in enumerate(blocks):
        bx0, by0, bx1, by1 = b.box
        if any(_vertical(h) and abs(h.box[1] - by0) <= 1.5 * unit and _beside(h.box, b.box, unit) for h in heads):
            continue
        width = bx1 - bx0
        nearest, kind_of, dist = None, "", None
        best_key = None
        found = []
        for k, h in enumerate(heads):
            if _vertical(h):
                continue
            hx0, hy0, hx1, hy1 = h.box
            inked = _overlap(h.box, b.box) > 0.2 * width
            if hy1 <= by0 + 0.3 * unit and (inked or _overlap(spans[k], b.box) > 0.8 * width):
                # the nearest above; between headlines at one height, the one over the block,
                # else the one nearer to it sideways
                side = max(0.0, hx0 - bx1, bx0 - hx1)
                key = (round((by0 - hy1) / unit), not inked, side)
                found.append((k, inked))
                if best_key is None or key < best_key:
                    best_key, nearest, kind_of, dist = key, k, "head", by0 - hy1
        body_dist = None
        for o in blocks:
            if o is b:
                continue
            ox0, oy0, ox1, oy1 = o.box
            if oy1 <= by0 + 0.3 * unit and _overlap(o.box, b.box) > 0.4 * min(width, ox1 - ox0):
                if body_dist is None or by0 - oy1 < body_dist:
                    body_dist = by0 - oy1
                if dist is None or by0 - oy1 < dist:
                    nearest, kind_of, dist = o, "body", by0 - oy1
        if kind_of == "head" and _vgap_clear(rules, bx0 + 0.1 * width, bx1 - 0.1 * width, heads[nearest].box[3], by0):
            b.owner = nearest
            # headlines standing level with the owner (side by side in one row) that could own it
            # as well: which one does is settled for the whole row below
            w = heads[nearest].box
            w_inked = dict(found)[nearest]
            alt = [k for k, inked in found if k != nearest and (inked or not w_inked)
                   and (abs(heads[k].box[1] - w[1]) <= 1.5 * unit or abs(heads[k].box[3] - w[3]) <= 1.5 * unit)
                   and (body_dist is None or by0 - heads[k].box[3] <= body_dist)
                   and _vgap_clear(rules, bx0 + 0.1 * width, bx1 - 0.1 * width, heads[k].box[3], by0)]
            if alt:
                contested[i] = [nearest] + alt
    _settle_rows(blocks, heads, contested, unit)
    # 2. a vertical headline owns the blocks beside it, and its story's columns beside those
    for k, h in enumerate(heads):
        if not _vertical(h):
            continue
        mine = [b for b in blocks if b.owner < 0 and _beside(h.box, b.box, unit)]
        # and the story's other columns, side by side with those, tops level
        while mine:
            for b in mine:
                b.owner = k
            mine = [b for b in blocks if b.owner < 0 and any(
                abs(b.box[1] - o.box[1]) <= 1.5 * unit and -0.3 * unit <= max(b.box[0] - o.box[2], o.box[0] - b.box[2]) < 3 * unit
                and _hgap_clear(rules, min(b.box[2], o.box[2]), max(b.box[0], o.box[0]), max(b.box[1], o.box[1]),
                                min(b.box[3], o.box[3])) for o in mine)]
    # 3. a block left over belongs to the story of the block right above it in its column (a
    #    line the reader cut apart split the column), else of the block beside it: the nearest
    #    first, page-wide, so a story's columns pass on its ownership before a neighbour's do
    while True:
        pick = None
        for b in blocks:
            if b.owner >= 0:
                continue
            bx0, by0, bx1, by1 = b.box
            for o in blocks:
                if o.owner < 0:
                    continue
                ox0, oy0, ox1, oy1 = o.box
                if 0 <= by0 - oy1 <= 2 * unit and _overlap(o.box, b.box) > 0.5 * min(bx1 - bx0, ox1 - ox0) \
                        and _vgap_clear(rules, max(bx0, ox0), min(bx1, ox1), oy1, by0):
                    key = (0, by0 - oy1)
                else:
                    # (boxes overlapping by a character's ink at most: a line OCR read into the
                    # gutter widened one of them)
                    gap = bx0 - ox1 if bx0 >= ox1 - 0.5 * unit else ox0 - bx1 if ox0 >= bx1 - 0.5 * unit else None
                    beside = min(by1, oy1) - max(by0, oy0) > 0.5 * min(by1 - by0, oy1 - oy0)
                    if gap is None or gap > 3 * unit or not (abs(oy0 - by0) <= 1.5 * unit or beside):
                        continue
                    gap += 0 if abs(oy0 - by0) <= 1.5 * unit else unit  # the same top first
                    if not _hgap_clear(rules, min(bx1, ox1), max(bx0, ox0), max(by0, oy0), min(by1, oy1)):
                        continue
                    key = (1, gap)
                if pick is None or key < pick[0]:
                    pick = (key, b, o.owner)
        if pick is None:
            break
        pick[1].owner = pick[2]


def _beside(h: Box, b: Box, unit: float) -> bool:
    """A vertical headline ``h`` stands beside block ``b``: level with it, a gutter or so away."""
    hx0, hy0, hx1, hy1 = h
    bx0, by0, bx1, by1 = b
    return min(hy1, by1) - max(hy0, by0) > 0.3 * min(by1 - by0, hy1 - hy0) and \
        (-unit <= bx0 - hx1 < 3 * unit or -unit <= hx0 - bx1 < 3 * unit)


def _settle_rows(blocks: list[_Block], heads: list[_Block], contested: dict[int, list[int]], unit: float) -> None:
    """Blocks under a row of headlines that more than one of them could own, shared out so
    that each headline stands over its story as headlines are set: centred over its columns
    or flush with the first one's left edge. Each headline keeps the blocks only it could
    own; the shared ones go out left to right (a story's columns are side by side), in the
    way that leaves every headline of the row best aligned."""
    import itertools

    rows: list[set[int]] = []
    for ks in contested.values():
        hit = [r for r in rows if r & set(ks)]
        merged = set(ks).union(*hit) if hit else set(ks)
        rows = [r for r in rows if not r & set(ks)] + [merged]
    for row in rows:
        order = sorted(row, key=lambda k: (heads[k].box[0] + heads[k].box[2]) / 2)
        shared = sorted((i for i, ks in contested.items() if set(ks) <= row), key=lambda i: blocks[i].box[0])
        fixed = {k: [blocks[i].box for i, b in enumerate(blocks) if b.owner == k and i not in contested] for k in order}

        def cost(k: int, boxes: list) -> float:
            if not boxes:
                return 30.0  # a headline left without a body
            hx0, _, hx1, _ = heads[k].box
            x0, x1 = min(b[0] for b in boxes), max(b[2] for b in boxes)
            return min(abs((hx0 + hx1) / 2 - (x0 + x1) / 2), abs(hx0 - x0)) / unit

        choices = [[j for j, k in enumerate(order) if k in contested[i]] for i in shared]
        best, best_cost = None, None
        n_ways = 1
        for c in choices:
            n_ways *= len(c)
        if n_ways > 20000:
            continue
        for pick in itertools.product(*choices):
            if any(a > b for a, b in zip(pick, pick[1:])):
                continue  # a story's columns stand side by side: the shares go out left to right
            total = 0.01 * sum(order[j] != contested[i][0] for i, j in zip(shared, pick))
            for j, k in enumerate(order):
                total += cost(k, fixed[k] + [blocks[i].box for i, jj in zip(shared, pick) if jj == j])
            if best_cost is None or total < best_cost:
                best, best_cost = pick, total
        if best is not None:
            for i, j in zip(shared, best):
                blocks[i].owner = order[j]


_HYPHENS = "-—－–_~"


def _deck_size(heads: list[_Block]) -> float:
    """The size a page sets its kickers and subtitles in: the median character pitch of the
    headline lines well smaller than their group's title (not a wrapped title's), of four
    characters or more and not opening on a dash; 0 when fewer than three tell."""
    pitches = []
    for h in heads:
        if _vertical(h):
            continue
        rows = _row_text(h.lines)
        top = max(_size(ln) for ln in rows)
        for ln in rows:
            text = ln.text.strip()
            if _size(ln) < 0.8 * top and len(text) >= 4 and text[0] not in _HYPHENS + "一":
                pitches.append((ln.bbox[2] - ln.bbox[0]) / printed_width(text))
    return statistics.median(pitches) if len(pitches) >= 3 else 0.0


def _dash_read_as_yi(text: str) -> bool:
    """A subtitle opening on "一" that stands as no word with what follows ("一强化治安巡查",
    "一在这里…"; not "一季度", "一批", "一男子", "一图读懂"): the dash OCR read as one stroke.
    (Where the deck size is unknown the line's width cannot tell a dash's two ems from one.)"""
    import jieba.posseg

    jieba_ready()
    words = list(jieba.posseg.cut(text[:12], HMM=False))
    if len(words) < 2 or words[0].word != "一":
        return False
    return words[1].flag not in ("n", "ng", "q", "m", "mq")


def _dashed(rows: list[Line], body: list[_Block], deck: float) -> list[Line]:
    """A headline group's lines with a subtitle's opening dash ("——", two ems) as printed: OCR
    reads it as a hyphen or "一", or drops the thin stroke. A hyphen never opens a printed line
    of a headline. A "一" or nothing is a dash when the line's box is two ems of the page's
    deck size (``deck``) wider than its other characters fill (OCR kept the dash's room), or
    (nothing read) when its ink begins about two ems right of the story's left edge (a group
    set flush left) or stands about one em right of its middle (a centred group), where a
    line without a dash would not."""
    if len(rows) < 2:
        return rows
    top = max(_size(ln) for ln in rows)
    boxes = [b.box for b in body] + [ln.bbox for ln in rows if _size(ln) >= 0.9 * top]
    s0, s1 = union(boxes)[0], union(boxes)[2]
    title_bottom = max(ln.bbox[3] for ln in rows if _size(ln) >= 0.9 * top)
    out = []
    for ln in rows:
        text = ln.text.strip()
        em = _size(ln)
        # (a subtitle: a line of its own under the title, set clearly smaller; not a piece of a
        # title's row OCR measured smaller, nor a wrapped title's last word or two)
        alone = not any(o is not ln and min(o.bbox[3], ln.bbox[3]) - max(o.bbox[1], ln.bbox[1]) > 0 for o in rows)
        above = [o for o in rows if o.bbox[3] <= ln.bbox[1]]
        if alone and above and em >= 0.85 * top and len(text) >= 3 and text[0] not in _HYPHENS + "一":
            # a subtitle set as large as its title (a small story's headline), its dash dropped: in
            # a centred group the line's middle stands about an em right of the lines' above,
            # which agree (a wrapped title's lines, centred, stand on one middle)
            mids = [(o.bbox[0] + o.bbox[2]) / 2 for o in above]
            off = (ln.bbox[0] + ln.bbox[2]) / 2 - statistics.mean(mids)
            if max(mids) - min(mids) < 0.2 * em and 0.5 * em < off < 1.3 * em \
                    and ln.bbox[0] > min(o.bbox[0] for o in above) + 0.5 * em:
                out.append(replace(ln, text="——" + text))
                continue
        if not text or em >= 0.85 * top or text.startswith(("——", "－－")) or not alone \
                or ln.bbox[1] < title_bottom or len(text) < 3:
            out.append(ln)
            continue
        k = 0
        while k < min(len(text), 2) and text[k] in _HYPHENS + "一":
            k += 1
        rest = printed_width(text[k:])
        x0, _, x1, _ = ln.bbox
        if not rest:
            dash = False
        elif k and all(c in _HYPHENS for c in text[:k]):
            dash = True
        elif deck and 1.6 < (x1 - x0) / deck - rest < 2.5:
            dash = True
        elif k == 1 and text[0] == "一" and _dash_read_as_yi(text):
            dash = True
        else:
            # (the dash's ink, thin at its ends, is some 1.5 em wide on a scan: a flush-left
            # line's text begins 1-2.5 ems in, a centred one's middle stands 0.5-1.3 em right)
            dash = not k and min(abs(x0 - s0), abs((x0 + x1) / 2 - (s0 + s1) / 2)) > 0.4 * em \
                and (1.0 * em < x0 - s0 < 2.5 * em or 0.5 * em < (x0 + x1) / 2 - (s0 + s1) / 2 < 1.3 * em)
        out.append(replace(ln, text="——" + text[k:]) if dash else ln)
    return out


def _emit(blocks: list[_Block], heads: list[_Block], unit: float) -> tuple[Line, ...]:
    stories: dict[tuple, list[_Block]] = {}
    for b in blocks:
        key = ("h", b.owner) if b.owner >= 0 else ("b", id(b))
        stories.setdefault(key, []).append(b)
    for k in range(len(heads)):
        stories.setdefault(("h", k), [])

    def top_left(item) -> tuple[float, float]:
        key, bs = item
        boxes = [b.box for b in bs] + ([heads[key[1]].box] if key[0] == "h" else [])
        x0, y0, _, _ = union(boxes)
        return (y0, x0)

    deck = _deck_size(heads)
    out: list[Line] = []
    n = 0
    # stories top to bottom; those starting level with each other (side by side) left to right
    ordered = sorted(stories.items(), key=top_left)
    rows: list[list] = []
    for item in ordered:
        if rows and top_left(item)[0] - top_left(rows[-1][0])[0] < 2 * unit:
            rows[-1].append(item)
        else:
            rows.append([item])
    for key, bs in [item for row in rows for item in sorted(row, key=lambda it: top_left(it)[1])]:
        if key[0] == "h":
            h = heads[key[1]]
            if _vertical(h):
                cols = h.columns or [h.lines]
                text = "".join(ln.text for col in cols for ln in sorted(col, key=lambda ln: ln.bbox[1]))
                head_lines = [Line(text, 2 * n, max(_size(ln) for ln in h.lines), h.box)]
            else:
                head_lines = [replace(ln, block=2 * n) for ln in _dashed(_row_text(h.lines), bs, deck)]
            out.extend(head_lines)
        # columns left to right, each top to bottom
        # (by the columns the blocks stand in: a line OCR read across a gutter widens a
        # block's box over the next column)
        cols: list[list[_Block]] = []
        for b in sorted(bs, key=lambda b: b.column[0]):
            bx0, bx1 = b.column
            for col in cols:
                cx0, cx1 = min(x.column[0] for x in col), max(x.column[1] for x in col)
                if min(bx1, cx1) - max(bx0, cx0) > 0.5 * min(bx1 - bx0, cx1 - cx0):
                    col.append(b)
                    break
            else:
                cols.append([b])
        for col in cols:
            # the column's lines row by row (pieces of one printed line that fell into two
            # blocks side by side are one line again)
            out.extend(replace(ln, block=2 * n + 1) for ln in _row_text([ln for b in col for ln in b.lines]))
        n += 1
    return tuple(out)
