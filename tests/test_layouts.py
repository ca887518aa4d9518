"""The seed page's eight articles printed in other layouts, as text layers give them.

Each layout re-flows the page: body columns 12, 16, 22 or 30 characters wide, headline
phrases wrapped at 8 to 14, a masthead line above the first article, column breaks,
continuation marks and bylines broken over two lines at every position. Every layout
must give back the same eight articles: headline (kicker, title, subtitle), byline, the
whole body, continuation page; and the same chunk texts where the body reads the same.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from click.testing import CliRunner

from ingest.articles import segment_page
from ingest.chunks import chunk_article
from ingest.pages import lines_from_text
from ui.cli import main

from .conftest import FIXTURES, SEED_PAGE

CLOSING = set("，。、；：？！”’）》」』…,.;:?!)%")
OPENING = set("“‘（《「『(")
MASTHEAD = "渝中报 第1版 · 要闻"


def _w(s: str) -> float:
    return sum(0.5 if c.isascii() else 1.0 for c in s)


def wrap(text: str, width: int) -> list[str]:
    """Lines ``width`` full-width characters wide (Latin letters and digits half as wide),
    broken as CJK layout does: no line starts with closing punctuation or ends with
    opening punctuation, and a run of Latin letters or digits is never split."""
    lines, cur = [], ""
    for ch in text:
        if _w(cur) + _w(ch) > width and ch not in CLOSING:
            j = len(cur)
            while j > 0 and ch.isascii() and ch.isalnum() and cur[j - 1].isascii() and cur[j - 1].isalnum():
                j -= 1
            if not (0 < j < len(cur) and ch.isascii() and ch.isalnum()):
                j = len(cur)
                while j > 1 and cur[j - 1] in OPENING:
                    j -= 1
            lines.append(cur[:j])
            cur = cur[j:]
        cur += ch
    lines.append(cur)
    return [ln.strip() for ln in lines if ln.strip()]


def reflow(articles, width: int, head_width: int, *, masthead: bool = True, gap_after_head: bool = True,
           column: int | None = None, mark_break: int | None = None, byline_break: int | None = None) -> str:
    """The articles as one page's text layer in this layout (kicker, title and subtitle are
    frames of their own; ``column`` puts a column break every that many body lines)."""
    out = [MASTHEAD, ""] if masthead else []
    for a in articles:
        parts = [p for p in (a.kicker, a.title, a.subtitle) if p]
        for n, part in enumerate(parts):
            for phrase in part.split(" "):
                out += wrap(phrase, head_width)
            if n < len(parts) - 1 or gap_after_head:
                out.append("")
        lead = "" if a.byline == "本报评论员" else f"本报讯（{a.byline}）"
        if not lead:
            out.append(a.byline)
        body: list[str] = []
        paras = a.text.split("\n")
        for n, para in enumerate(paras):
            text = (lead if n == 0 else "") + para
            mark = f"（下转{a.continues_on_page}版）" if n == len(paras) - 1 and a.continues_on_page else ""
            tail = "" if mark_break is not None else mark
            if n == 0 and lead and byline_break is not None:
                lines = [lead[:byline_break]] + wrap(lead[byline_break:] + para + tail, width)
            else:
                lines = wrap(text + tail, width)
            if mark and mark_break is not None:
                lines[-1] += mark[:mark_break]
                lines.append(mark[mark_break:])
            body += lines
        if column:
            body = [ln for k, piece in enumerate(body) for ln in ([""] if k and k % column == 0 else []) + [piece]]
        out += body + [""]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def seed(seed_page_module):
    return seed_page_module, segment_page(seed_page_module)


@pytest.fixture(scope="module")
def seed_page_module():
    from ingest.pages import read_file

    return read_file(SEED_PAGE).pages[0]


def _compact(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _phrase_ends(s: str) -> set[int]:
    """Where the printed headline phrases end, as offsets into the text without spaces."""
    ends, n = set(), 0
    for part in s.split(" "):
        n += len(part)
        ends.add(n)
    return ends


def _check(seed, text: str) -> None:
    page, expected = seed
    got = segment_page(replace(page, lines=lines_from_text(text)))
    assert len(got) == 8, [a.title for a in got]
    for want, a in zip(expected, got):
        for field in ("kicker", "title", "subtitle"):
            mine, theirs = getattr(a, field), getattr(want, field)
            assert _compact(mine) == _compact(theirs), (field, mine, theirs)
            # a space only where a printed phrase ended, never inside a word ("全面提升执 行力")
            assert _phrase_ends(mine) <= _phrase_ends(theirs), (field, mine)
        assert (a.byline, a.continues_on_page) == (want.byline, want.continues_on_page)
        assert _compact(a.text) == _compact(want.text) and MASTHEAD not in a.text + a.headline
        if a.text == want.text:
            assert [c.text for c in chunk_article(a)] == [c.text for c in chunk_article(want)]


WIDTHS = [(w, hw) for w in (12, 16, 22, 30) for hw in range(8, 15)]


@pytest.mark.parametrize("width,head_width", WIDTHS)
def test_reflowed_with_a_masthead(seed, width, head_width):
    _check(seed, reflow(seed[1], width, head_width))


@pytest.mark.parametrize("width,head_width", WIDTHS)
def test_reflowed_with_headlines_right_above_their_bodies(seed, width, head_width):
    _check(seed, reflow(seed[1], width, head_width, masthead=False, gap_after_head=False))


@pytest.mark.parametrize("column", [5, 9, 20])
@pytest.mark.parametrize("width,head_width", [(12, 8), (16, 11), (22, 14), (30, 10)])
def test_reflowed_in_columns(seed, width, head_width, column):
    _check(seed, reflow(seed[1], width, head_width, column=column))


@pytest.mark.parametrize("at", range(1, 6))  # （|下|转|2|版|）
@pytest.mark.parametrize("width,head_width", [(12, 9), (22, 12), (30, 14)])
def test_continuation_mark_broken_over_two_lines(seed, width, head_width, at):
    _check(seed, reflow(seed[1], width, head_width, mark_break=at))


@pytest.mark.parametrize("at", range(1, 9))  # 本|报|讯|（|记|者| |…
@pytest.mark.parametrize("width,head_width", [(12, 9), (22, 12)])
def test_byline_broken_over_two_lines(seed, width, head_width, at):
    _check(seed, reflow(seed[1], width, head_width, byline_break=at))


def test_the_reflowed_layout_really_wraps(seed):
    text = reflow(seed[1], 12, 8, mark_break=3)
    assert "\n武\n" in text or "\n能大比武\n" in text  # a headline phrase is wrapped
    assert "（下转\n2版）" in text and text.startswith(MASTHEAD)  # the mark broken after 3 characters


def test_latin_words_and_numbers_broken_at_a_line_end_keep_one_space():
    from ingest.pages import lines_from_text as lines
    from rag.records import IssueDate, Page

    page = Page("渝中报", IssueDate(), 1, "t", "k", lines("本报讯（记者 王五）发布会推出iPhone\n15系列，共3\n款，售价2006\n元起，支持Wi\nFi 7。\n"))
    (a,) = segment_page(page)
    assert a.text == "发布会推出iPhone 15系列，共3款，售价2006元起，支持Wi Fi 7。"


def test_articles_of_the_seed_page_are_unchanged():
    out = CliRunner().invoke(main, ["articles", str(SEED_PAGE), "--json"]).stdout
    assert json.loads(out) == json.loads((FIXTURES / "corpus_articles.json").read_text(encoding="utf-8"))
