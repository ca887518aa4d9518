"""Lines with boxes -> reading order: columns, headlines across columns, boxed stories.

A PDF text layer or an OCR pass gives lines with boxes in no useful order. Newspaper pages
are laid out on a grid, so the page is cut recursively along its widest straight
whitespace (the XY-cut): a headline across three columns is cut off above them by the
gap below it, the columns are then cut apart by their gutters, and each region that no
gap divides is one block (one piece of one column). Blocks are read top to bottom at
each horizontal cut and left to right at each vertical one, and numbered in that order,
which is what segmentation's ``Line.block`` expects.

Coordinates are page units with the origin at the top left (PDF points, or pixels of a
scan); a box is (x0, y0, x1, y1).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.records import Line

__all__ = ["Box", "reading_order", "union"]

Box = tuple[float, float, float, float]


def union(boxes: Sequence[Box]) -> Box:
    """The smallest box holding all of ``boxes``."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


@dataclass(frozen=True)
class _Cut:
    axis: str  # "y": a horizontal cut (gap between rows), "x": a vertical one (a gutter)
    at: float
    gap: float


def _gaps(solid: list[tuple[float, float]], strays: Sequence[tuple[float, float]] = ()) -> list[tuple[float, float]]:
    """The open intervals between the spans, as (start, end), inside their overall extent.

    ``solid`` spans close any gap they cross. ``strays`` may cross one without closing it:
    OCR boxes of body lines reach into gutters now and then; a gap stays open while at
    most one of them (or 2% of all lines) crosses it."""
    every = list(solid) + list(strays)
    if len(every) < 2:
        return []
    allowed = max(1, int(0.02 * len(every))) if strays else 0
    points = sorted({p for span in every for p in span})
    out, start = [], None
    for a, b in zip(points, points[1:]):
        mid = (a + b) / 2
        free = not any(x0 < mid < x1 for x0, x1 in solid) and sum(1 for x0, x1 in strays if x0 < mid < x1) <= allowed
        if free and start is None:
            start = a
        elif not free and start is not None:
            out.append((start, a))
            start = None
    return out


def _size(ln: Line) -> float:
    return ln.font_size or (ln.bbox[3] - ln.bbox[1])


def _head_cut(lines: list[Line], rows: list[_Cut], centred: bool) -> _Cut | None:
    """The cut below the headline at the top of the region (every line above it set larger
    than the body), so that its lines stay one block. With columns below (``centred``),
    only a headline centred over the whole region: it leaves the gutters free above the
    body, yet belongs above all of the columns."""
    body = statistics.median(_size(ln) for ln in lines)
    x0, x1 = min(ln.bbox[0] for ln in lines), max(ln.bbox[2] for ln in lines)
    found = None
    for cut in sorted(rows, key=lambda c: c.at):  # the lowest cut with only the headline above it
        above = [ln for ln in lines if ln.bbox[3] <= cut.at]
        if len(above) == len(lines) or not all(_size(ln) > 1.15 * body for ln in above):
            break
        # centred: every line of it on the region's centre line (two titles side by side are not)
        mid, width = (x0 + x1) / 2, x1 - x0
        if not centred or all(abs((ln.bbox[0] + ln.bbox[2]) / 2 - mid) < 0.05 * width and ln.bbox[2] - ln.bbox[0] < 0.9 * width
                              for ln in above):
            found = cut
    return found


def _leading(lines: list[Line]) -> float:
    """The usual space between a line and the next one under it, in type sizes (PDF boxes
    span the whole em, OCR boxes only the ink, so the same page shows ~0.4 and ~0.6)."""
    gaps = []
    by_top = sorted(lines, key=lambda ln: ln.bbox[1])
    for i, ln in enumerate(by_top):
        for nxt in by_top[i + 1 : i + 40]:
            if nxt.bbox[1] >= ln.bbox[3] and min(ln.bbox[2], nxt.bbox[2]) > max(ln.bbox[0], nxt.bbox[0]):
                gaps.append((nxt.bbox[1] - ln.bbox[3]) / _size(ln))
                break
    return statistics.median(gaps) if gaps else 0.4


def _row_unit(lines: list[Line], a: float, b: float, unit: float) -> float:
    """What a row gap from ``a`` to ``b`` is measured in: the type size of the smaller of
    the lines just above and just below it (a gap between two headline lines is no wider,
    for their size, than between two body lines; OCR boxes are tight, so it shows)."""
    above = [ln for ln in lines if ln.bbox[3] <= a + 0.01]
    below = [ln for ln in lines if ln.bbox[1] >= b - 0.01]
    if not above or not below:
        return unit
    last = max(above, key=lambda ln: ln.bbox[3])
    first = min(below, key=lambda ln: ln.bbox[1])
    return max(min(_size(last), _size(first)), 1e-6)


def _best_cut(lines: list[Line], unit: float) -> _Cut | None:
    """The gap to cut the region at: a headline centred over the region first, else the
    widest straight gap across it that separates more than line spacing does (in y, wider
    than ``0.6 × unit``, a line's height; in x, wider than ``0.9 × unit``)."""
    rows = [_Cut("y", (a + b) / 2, (b - a) / _row_unit(lines, a, b, unit)) for a, b in _gaps([(ln.bbox[1], ln.bbox[3]) for ln in lines])]
    rows = [c for c in rows if c.gap > max(0.6, 1.5 * _leading(lines))]
    # A body line may stray into a gutter (OCR boxes reach a character beyond the text now
    # and then): body lines count without a character at either end, and one may cross.
    # A larger line (a headline) always closes a gutter.
    body = statistics.median(_size(ln) for ln in lines)
    big = [(ln.bbox[0], ln.bbox[2]) for ln in lines if _size(ln) > 1.15 * body]
    small = [(ln.bbox[0] + _size(ln), ln.bbox[2] - _size(ln)) for ln in lines if _size(ln) <= 1.15 * body]
    small = [(a, b) for a, b in small if b > a]
    cols = [_Cut("x", (a + b) / 2, (b - a) / unit) for a, b in _gaps(big, small)]
    cols = [c for c in cols if c.gap > 0.9]
    # Stories are set one under another with more space between them than between lines:
    # such a gap is cut before any gutter, or a gutter running through several stories of
    # one column grid would read them column by column across the stories.
    wide = [c for c in rows if c.gap >= 1.2]
    if wide:
        return max(wide, key=lambda c: c.gap)
    if rows and (head := _head_cut(lines, rows, centred=bool(cols))) is not None:
        return head
    return max(rows + cols, key=lambda c: c.gap, default=None)


def _cut(lines: list[Line], unit: float, out: list[list[Line]]) -> None:
    if len(lines) > 1 and (cut := _best_cut(lines, unit)) is not None:
        i = 1 if cut.axis == "y" else 0
        before = [ln for ln in lines if (ln.bbox[i] + ln.bbox[i + 2]) / 2 < cut.at]
        after = [ln for ln in lines if (ln.bbox[i] + ln.bbox[i + 2]) / 2 >= cut.at]
        if before and after:
            # a region's own unit: its lines' height (a headline region's gaps are wider)
            for part in (before, after):
                _cut(part, _unit(part), out)
            return
    out.append(sorted(lines, key=lambda ln: (ln.bbox[1], ln.bbox[0])))


def _unit(lines: Sequence[Line]) -> float:
    return statistics.median(ln.bbox[3] - ln.bbox[1] for ln in lines) or 1.0


def reading_order(lines: Sequence[Line]) -> tuple[Line, ...]:
    """The lines in reading order, with ``block`` numbering the regions no gap divides.

    Lines must carry boxes; their ``block`` is ignored and set here.
    """
    boxed = [ln for ln in lines if ln.bbox is not None and ln.text.strip()]
    if not boxed:
        return ()
    blocks: list[list[Line]] = []
    _cut(boxed, _unit(boxed), blocks)
    return tuple(replace(ln, block=b) for b, block in enumerate(blocks) for ln in block)
