"""Reading order of OCR'd lines (scans): geometry OCR gets wrong, on small pages of our own."""

from __future__ import annotations

from ingest.layout import reading_order
from rag.records import Line

EM = 30.0  # body type, in pixels
PITCH = 45.0  # one body line to the next
TEXT = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏"


def _line(text: str, x0: float, y0: float, em: float = EM) -> Line:
    # OCR's size: the line's width over its characters
    return Line(text, 0, em, (x0, y0, x0 + len(text) * em, y0 + 0.85 * em))


def _columns(rows: int, width: int, n: int) -> list[list[str]]:
    """``n`` columns of ``rows`` full lines of ``width`` characters, each its own text."""
    cols = []
    for c in range(n):
        cols.append([(TEXT[(c * rows + r) % len(TEXT):] + TEXT)[:width] for r in range(rows)])
    return cols


def test_a_line_ocr_read_across_a_one_em_gutter_is_cut_and_stays_cut():
    # two columns a one-em gutter apart; OCR read one row across the gutter, and the row above
    # it two characters over the gutter (the next column's first two characters)
    left, width, gutter, top = 100.0, 12, EM, 400.0
    a, b = _columns(8, width, 2)
    bx = left + width * EM + gutter
    lines = []
    for r in range(8):
        y = top + r * PITCH
        if r == 5:
            lines.append(_line(a[r] + b[r][:2], left, y))
            lines.append(_line(b[r][2:], bx + 2 * EM, y))
        elif r == 6:
            lines.append(Line(a[r] + b[r], 0, EM, (left, y, bx + width * EM, y + 0.85 * EM)))
        else:
            lines += [_line(a[r], left, y), _line(b[r], bx, y)]
    got = [ln.text for ln in reading_order(lines)]
    assert got == a + b


def test_a_subtitle_dash_ocr_dropped_or_misread_is_restored():
    # a headline set flush left over a two-column story; the subtitle's "——" OCR dropped
    # (its ink starts two ems in) on one story, read as "-" on the other
    body_left, width, gutter = 100.0, 12, EM
    out = []
    for k, (sub, x_sub) in enumerate((("城南老街改造后首个暑期见闻", body_left + 2 * 1.25 * EM),
                                     ("-城南老街改造后首个暑期见闻", body_left))):
        top = 200.0 + k * 900.0
        lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM),
                 _line(sub.lstrip("-"), x_sub, top + 2.6 * EM, 1.25 * EM) if not sub.startswith("-") else
                 Line(sub, 0, 1.25 * EM, (x_sub, top + 2.6 * EM, x_sub + (len(sub) + 1) * 1.25 * EM, top + 3.7 * EM))]
        a, b = _columns(8, width, 2)
        bx = body_left + width * EM + gutter
        for r in range(8):
            y = top + 4.6 * EM + r * PITCH
            lines += [_line(a[r], body_left, y), _line(b[r], bx, y)]
        out.append(reading_order(lines))
    for ro in out:
        head = [ln.text for ln in ro if ln.block == 0]
        assert head == ["夜市经济火热老街人气旺", "——城南老街改造后首个暑期见闻"]


def test_a_subtitle_without_a_dash_keeps_its_text():
    body_left, width, gutter, top = 100.0, 12, EM, 200.0
    lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM),
             _line("一场暴雨后的城南老街", body_left, top + 2.6 * EM, 1.25 * EM)]
    a, b = _columns(8, width, 2)
    bx = body_left + width * EM + gutter
    for r in range(8):
        y = top + 4.6 * EM + r * PITCH
        lines += [_line(a[r], body_left, y), _line(b[r], bx, y)]
    head = [ln.text for ln in reading_order(lines) if ln.block == 0]
    assert head == ["夜市经济火热老街人气旺", "一场暴雨后的城南老街"]


def test_a_piece_of_a_body_line_ocr_measured_large_stays_body():
    # a headline over a two-column story; in the first column OCR cut a row in two where it
    # dropped a comma ("23.50亿元" / "同比下降", nearly two ems apart) and measured the second
    # piece 1.4× body type and its box taller, and the row above it is in pieces too, one of
    # them measured small
    body_left, width, gutter, top = 100.0, 12, EM, 200.0
    lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM)]
    a, b = _columns(8, width, 2)
    bx = body_left + width * EM + gutter
    for r in range(8):
        y = top + 3.2 * EM + r * PITCH
        if r == 4:
            lines += [_line(a[r][:3], body_left, y, 0.75 * EM), _line(a[r][3:], body_left + 3.5 * EM, y)]
        elif r == 5:
            lines += [_line(a[r][:5], body_left, y),
                      Line(a[r][5:9], 0, 1.4 * EM, (body_left + 6.8 * EM, y - 2, body_left + 12 * EM, y + 1.1 * EM))]
        else:
            lines.append(_line(a[r], body_left, y))
        lines.append(_line(b[r], bx, y))
    ro = reading_order(lines)
    assert [ln.text for ln in ro if ln.block == 0] == ["夜市经济火热老街人气旺"]
    assert "".join(ln.text for ln in ro if ln.block == 1) == "".join(a[:5]) + a[5][:9] + "".join(a[6:]) + "".join(b)


def test_pieces_of_a_byline_ocr_cut_at_a_wide_space_stay_one_headline():
    # a byline centred under its title, which OCR read in two pieces nearly an em apart
    # ("韩鹏主" / "持并讲话"); beside the story, another story's headline at the same height
    body_left, width, gutter, top = 100.0, 12, EM, 200.0
    sub = em = 1.15 * EM
    x_sub = body_left + 8 * EM
    lines = [_line("夜市经济火热老街旺", body_left + 1.5 * EM, top, 2.2 * EM),
             _line("韩鹏主", x_sub, top + 2.7 * EM, sub), _line("持并讲话", x_sub + 3 * em + 0.9 * EM, top + 2.7 * EM, sub)]
    a, b = _columns(8, width, 2)
    bx = body_left + width * EM + gutter
    right = bx + width * EM + gutter
    c, = _columns(8, width, 1)
    lines.append(_line("城南老街改造", right, top, 2.2 * EM))
    for r in range(8):
        y = top + 4.6 * EM + r * PITCH
        lines += [_line(a[r], body_left, y), _line(b[r], bx, y), _line(c[r][::-1], right, y)]
    ro = reading_order(lines)
    heads = {ln.block: [] for ln in ro if ln.block % 2 == 0}
    for ln in ro:
        if ln.block % 2 == 0:
            heads[ln.block].append(ln.text)
    assert sorted(heads.values()) == [["城南老街改造"], ["夜市经济火热老街旺", "韩鹏主持并讲话"]]
    first = next(k for k, v in heads.items() if v[0] == "夜市经济火热老街旺")
    assert [ln.text for ln in ro if ln.block == first + 1] == a + b


def test_a_short_first_line_is_not_joined_across_the_gutter_under_a_line_over_both_columns():
    # a kicker and a byline in about body type centred over a two-column story run across its
    # gutter; the
    # first column's first line is short (a paragraph of its own, "本报讯（记者朱嘉）"): it is no
    # piece of the second column's first line, which begins where that column's lines begin
    body_left, width, gutter, top = 100.0, 12, 0.7 * EM, 200.0
    a, b = _columns(8, width, 2)
    a[0] = a[0][:9]
    bx = body_left + width * EM + gutter
    lines = [_line("傅玉静在调研时强调", body_left + 7.5 * EM, top - 1.8 * EM, 1.1 * EM),
             _line("夜市经济火热老街旺", body_left + 2 * EM, top, 2.2 * EM),
             _line("傅玉静丁洋出席", body_left + 8.5 * EM, top + 2.6 * EM, 1.1 * EM)]
    for r in range(8):
        y = top + 4.6 * EM + r * PITCH
        lines += [_line(a[r], body_left + (2 * EM if r == 0 else 0), y), _line(b[r], bx, y)]
    ro = reading_order(lines)
    assert [ln.text for ln in ro if ln.block == 1] == a + b


def test_a_subtitle_dash_ocr_dropped_is_restored_by_where_its_ink_begins():
    # the dash's thin ends leave less ink than its two ems: the text OCR read begins 1.5 em
    # right of a flush-left group's edge, or stands 0.65 em right of a centred group's middle
    body_left, width, gutter = 100.0, 12, EM
    bx = body_left + width * EM + gutter
    mid = (body_left + bx + width * EM) / 2
    sub, em = "城南老街改造后首个暑期见闻", 1.25 * EM
    out = []
    for k, x_sub in enumerate((body_left + 1.5 * em, mid + 0.65 * em - len(sub) * em / 2)):
        top = 200.0 + k * 900.0
        title = "夜市经济火热老街人气旺"
        x_title = body_left if k == 0 else mid - len(title) * 2.2 * EM / 2
        lines = [_line(title, x_title, top, 2.2 * EM), _line(sub, x_sub, top + 2.6 * EM, em)]
        a, b = _columns(8, width, 2)
        for r in range(8):
            y = top + 4.6 * EM + r * PITCH
            lines += [_line(a[r], body_left, y), _line(b[r], bx, y)]
        out.append(reading_order(lines))
    for ro in out:
        assert [ln.text for ln in ro if ln.block == 0] == ["夜市经济火热老街人气旺", "——城南老街改造后首个暑期见闻"]


def test_a_paragraph_end_of_two_characters_in_a_tall_box_stays_body():
    # OCR's box of a line's last one or two characters ("菜。") stands tall round their ink and
    # measures them larger than body type; on the column's line pitch, it is body
    body_left, width, gutter, top = 100.0, 12, EM, 200.0
    lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM)]
    a, b = _columns(8, width, 2)
    a[3] = "菜。"
    bx = body_left + width * EM + gutter
    for r in range(8):
        y = top + 3.2 * EM + r * PITCH
        if r == 3:
            lines.append(Line(a[r], 0, 1.3 * EM, (body_left, y - 0.3 * EM, body_left + 2.6 * EM, y + 1.0 * EM)))
        else:
            lines.append(_line(a[r], body_left, y))
        lines.append(_line(b[r], bx, y))
    ro = reading_order(lines)
    assert [ln.text for ln in ro if ln.block == 0] == ["夜市经济火热老街人气旺"]
    assert [ln.text for ln in ro if ln.block == 1] == a + b


def test_a_column_whose_line_runs_over_the_gutter_joins_the_story_beside_it():
    # a story of three columns whose vertical headline stands right of its last one; a line of
    # the first column OCR read a character into the gutter, so that column's box reaches the
    # second one's: it still stands beside it and belongs to the same story
    body_left, width, gutter, top = 100.0, 10, 0.6 * EM, 200.0
    cols = _columns(8, width, 3)
    xs = [body_left + k * (width * EM + gutter) for k in range(3)]
    lines = []
    for r in range(8):
        y = top + r * PITCH
        for k in range(3):
            text = cols[k][r]
            if k == 0 and r == 5:
                text = cols[0][r] = text + "。"
            lines.append(_line(text, xs[k], y))
    hx = xs[2] + width * EM + 1.5 * EM
    title = "海关总署推出新模式"
    lines.append(Line(title, 0, 2.2 * EM, (hx, top, hx + 2.2 * EM, top + len(title) * 2.2 * EM)))
    ro = reading_order(lines)
    assert [ln.text for ln in ro if ln.block == 0] == [title]
    assert [ln.text for ln in ro if ln.block == 1] == cols[0] + cols[1] + cols[2]


def test_a_caption_credit_over_a_column_stays_out_of_the_body():
    # a photo's caption ends on a short credit line ("（记者姚怡摄）", 7.5 pt against 9 pt body,
    # which OCR measures 0.7x body but as tall as body lines) right above a story's first
    # column; it stands off the body's line pitch, a short body line on it
    body_left, width, gutter, top = 100.0, 12, EM, 200.0
    lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM)]
    a, b = _columns(8, width, 2)
    bx = body_left + width * EM + gutter
    lines.append(Line("（记者姚怡摄）", 0, 0.72 * EM, (bx + 0.5 * EM, top + 3.0 * EM, bx + 5.5 * EM, top + 3.85 * EM)))
    for r in range(8):
        y = top + 3.2 * EM + r * PITCH
        lines.append(_line(a[r], body_left, y))
        y += 0.5 * PITCH  # (the second column begins under the photo, off the first one's grid)
        if 1 <= r < 7:
            lines.append(_line(b[r], bx, y))
        elif r == 7:  # a paragraph's end, which OCR measures small too, on the grid
            lines.append(Line("分，", 0, 0.72 * EM, (bx, y, bx + 1.5 * EM, y + 0.85 * EM)))
    ro = reading_order(lines)
    assert [ln.text for ln in ro if ln.block == 1] == a + b[1:7] + ["分，"]


def test_a_caption_over_two_columns_is_not_cut_at_their_gutter_into_the_body():
    # a photo over both columns of a story, its caption's line in small type (OCR measures it
    # 0.86x body) running across the gutter right above the columns' first lines, but off
    # their line pitch: no body line read across the gutter
    body_left, width, gutter, top = 100.0, 12, EM, 200.0
    a, b = _columns(8, width, 2)
    bx = body_left + width * EM + gutter
    cap = "图为车主在展会现场展示改装车辆。记者阎英晨摄"
    lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM),
             Line(cap, 0, 0.86 * EM, (body_left, top + 12 * EM, body_left + len(cap) * 0.86 * EM, top + 12.75 * EM))]
    for r in range(8):
        y = top + 12 * EM + 1.16 * PITCH + r * PITCH
        lines += [_line(a[r], body_left, y), _line(b[r], bx, y)]
    ro = reading_order(lines)
    assert [ln.text for ln in ro if ln.block == 1] == a + b


def test_a_kicker_a_size_below_a_small_title_is_told_by_its_pitch():
    # a small headline (12 pt over 9 pt body) under a kicker one size below it (10.5 pt) with
    # no wording of its own ("民生实事进行时"): OCR's boxes, as tall for both, do not tell them
    # apart, the characters' pitch does
    k, t, top = 10.5 / 9 * EM, 12 / 9 * EM, _TOP
    art = _one_story([Line("民生实事进行时", 0, k, (_LEFT + 2 * EM, top, _LEFT + 2 * EM + 7 * k, top + 1.0 * EM)),
                      Line("所有项目改造完成后", 0, t, (_LEFT, top + 1.4 * EM, _LEFT + 9 * t, top + 2.45 * EM)),
                      Line("大幅度提升滑雪道的", 0, t, (_LEFT, top + 2.8 * EM, _LEFT + 9 * t, top + 3.85 * EM))], 5.2)
    assert (art.kicker, art.title) == ("民生实事进行时", "所有项目改造完成后 大幅度提升滑雪道的")


def test_a_subtitle_dash_ocr_read_as_one_stroke_is_restored_where_the_deck_size_is_unknown():
    # one story on the page (no deck size to measure the line's width by): "一" that makes no
    # word with what follows is the dash; "一男子…" (a man) keeps its text
    body_left, width, gutter = 100.0, 12, EM
    bx = body_left + width * EM + gutter
    for sub, want in (("一强化老街治安巡查", "——强化老街治安巡查"), ("一男子夜市摆摊被罚", "一男子夜市摆摊被罚")):
        top = 200.0
        lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM), _line(sub, body_left, top + 2.6 * EM, 1.25 * EM)]
        a, b = _columns(8, width, 2)
        for r in range(8):
            y = top + 4.6 * EM + r * PITCH
            lines += [_line(a[r], body_left, y), _line(b[r], bx, y)]
        head = [ln.text for ln in reading_order(lines) if ln.block == 0]
        assert head == ["夜市经济火热老街人气旺", want]


def test_a_subtitle_as_large_as_its_small_title_with_its_dash_dropped_is_told_by_its_middle():
    # a short story's centred headline, title and subtitle in one size (12 pt over 9 pt body);
    # OCR dropped the subtitle's dash, so what it read stands an em right of the title's middle
    mid, t, top = (_LEFT + _RIGHT + 12 * EM) / 2, 12 / 9 * EM, _TOP
    heads = (("我从未看到过这样的表演", 0.0), ("旨在促进中外文化交流", t))
    art = _one_story([Line(s, 0, t, (mid + off - len(s) * t / 2, top + k * 1.4 * EM, mid + off + len(s) * t / 2,
                                     top + k * 1.4 * EM + 1.05 * EM)) for k, (s, off) in enumerate(heads)], 4.0)
    assert (art.title, art.subtitle) == ("我从未看到过这样的表演", "——旨在促进中外文化交流")


def test_a_last_line_ending_on_a_continuation_mark_ocr_measured_small_stays_in_its_story():
    # the mark is set a size below body type, so OCR measures the story's last line,
    # a paragraph's first (indented two ems) after a short paragraph end, at 0.86 body
    from ingest.articles import segment_page
    from rag.records import IssueDate, Page

    def edit(cols):
        cols[0][0] = "本报讯（记者王芳）" + cols[0][0][9:]
        cols[1][7] = "作物。"

    lines = _story_with(edit=edit)
    y = _TOP + 3.0 * EM + 8 * PITCH
    lines.append(Line("各地还要（下转8版）", 0, 0.86 * EM, (_RIGHT + 2 * EM, y, _RIGHT + 2 * EM + 8.5 * 0.9 * EM, y + 0.85 * EM)))
    page = Page("渝中报", IssueDate(), 1, "scan", "page:b/x/1", reading_order(lines), size=(2000, 3000))
    (art,) = segment_page(page)
    assert art.continues_on_page == 8 and art.text.endswith("作物。\n各地还要")


def test_a_first_body_line_ocr_measured_small_on_the_baseline_grid_stays_body():
    # "本报讯（记者韩冰、" (brackets and the comma set narrow): OCR measures it 0.84 body; it
    # stands one line pitch over its column's next line, as tall as body lines
    from ingest.articles import segment_page
    from rag.records import IssueDate, Page

    def edit(cols):
        cols[0][1] = "曲俊铮）8月11日，" + cols[0][1][9:]

    def make(text, x, y):
        first = "本报讯（记者韩冰、"
        return Line(first, 0, 0.84 * EM, (x + 2 * EM, y, x + 2 * EM + 9 * 0.84 * EM, y + 0.85 * EM))

    page = Page("渝中报", IssueDate(), 1, "scan", "page:b/x/1", reading_order(_story_with((0, 0), make, edit)),
                size=(2000, 3000))
    (art,) = segment_page(page)
    assert "韩冰" in art.byline and art.text.startswith("8月11日")


def _story_with(line_at: tuple[int, int] | None = None, make=None, edit=None) -> list[Line]:
    """A headline over two columns of eight body lines; the line at (column, row) made by
    ``make(text, x0, y)``; ``edit(columns)`` changes the columns' texts first."""
    cols = _columns(8, 12, 2)
    if edit:
        edit(cols)
    lines = [_line("夜市经济火热老街人气旺", _LEFT, _TOP, 2.2 * EM)]
    for c, x in enumerate((_LEFT, _RIGHT)):
        for r in range(8):
            y = _TOP + 3.0 * EM + r * PITCH
            lines.append(make(cols[c][r], x, y) if (c, r) == line_at else _line(cols[c][r], x, y))
    return lines


def _one_story(head: list[Line], body_top: float):
    """The one article of a page of ``head`` over the two columns of ``_story_with`` (opening
    本报讯, ``body_top`` body sizes under ``_TOP``), read as a scan."""
    from ingest.articles import segment_page
    from rag.records import IssueDate, Page

    a, b = _columns(8, 12, 2)
    a[0] = "本报讯（记者王芳）" + a[0][9:]
    lines = list(head)
    for r in range(8):
        y = _TOP + body_top * EM + r * PITCH
        lines += [_line(a[r], _LEFT, y), _line(b[r], _RIGHT, y)]
    (art,) = segment_page(Page("渝中报", IssueDate(), 1, "scan", "page:b/x/1", reading_order(lines), size=(2000, 3000)))
    return art


_LEFT, _TOP = 100.0, 200.0  # (the story of ``_story_with``: columns of 12 characters, a gutter of one)
_RIGHT = _LEFT + 12 * EM + EM


def test_a_body_line_opening_on_a_quotation_mark_in_a_tall_box_on_the_grid_stays_body():
    # a paragraph opening on "”": the mark stands high, so OCR's box is 1.6 body lines tall,
    # and the line measures 1.16 body; it stands on its column's baseline grid
    def make(text, x, y):
        s = "”国民党昨天召开全代"
        return Line(s, 0, 1.16 * EM, (x + 2 * EM, y - 0.5 * EM, x + 2 * EM + 10 * 1.0 * EM, y - 0.5 * EM + 1.6 * 0.85 * EM))

    ro = reading_order(_story_with((1, 4), make))
    assert [ln.block for ln in ro if ln.text.startswith("”")] == [1]
    assert [ln.text for ln in ro if ln.block == 0] == ["夜市经济火热老街人气旺"]


def test_a_column_top_line_indented_a_little_over_two_and_a_half_body_sizes_is_found_on_the_grid():
    # OCR's body size runs below the printed em, and a paragraph's first character has ink
    # set in: the indent of "二是倡导“一卡通" (measured 1.19 body) reads 2.6 body sizes
    def make(text, x, y):
        s = "二是倡导“一卡通"
        return Line(s, 0, 1.19 * EM, (x + 2.6 * EM, y, x + 2.6 * EM + 8 * 1.19 * EM, y + 0.9 * EM))

    ro = reading_order(_story_with((1, 0), make))
    assert [ln.block for ln in ro if ln.text.startswith("二是")] == [1]


def test_a_caption_credit_measured_well_under_body_type_one_pitch_over_a_story_stays_out():
    # a photo's credit, "（记者夏鸣摄）", set at 0.63 body, happens to stand one line pitch over
    # the story's first body line (under its headline): a caption's, not the story's
    body_left, width, gutter, top = 100.0, 12, EM, 200.0
    bx = body_left + width * EM + gutter
    lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM)]
    a, b = _columns(8, width, 2)
    first = top + 4.0 * EM
    credit = "（记者夏鸣摄）"
    lines.append(Line(credit, 0, 0.63 * EM, (body_left + EM, first - PITCH, body_left + EM + 7 * 0.63 * EM, first - PITCH + 0.7 * EM)))
    for r in range(8):
        y = first + r * PITCH
        lines += [_line(a[r], body_left, y), _line(b[r], bx, y)]
    ro = reading_order(lines)
    assert [ln.text for ln in ro if ln.block == 1] == a + b


def test_a_headline_lines_last_character_ocr_cut_off_after_a_bracket_joins_its_line():
    # OCR cut "电影《长安三万里》中" after the bracket: a piece of one character, right beside
    # the rest of the line on its row, in the same type
    from ingest.articles import segment_page
    from rag.records import IssueDate, Page

    body_left, width, gutter, top = 100.0, 12, EM, 200.0
    bx = body_left + width * EM + gutter
    t = 1.78 * EM
    x = body_left + EM
    lines = [Line("电影《长安三万里》", 0, t, (x, top, x + 9 * t, top + t)),
             Line("中", 0, t, (x + 9 * t + 0.4 * EM, top, x + 10 * t + 0.4 * EM, top + t))]
    a, b = _columns(8, width, 2)
    a[0] = "本报讯（记者王芳）" + a[0][9:]
    for r in range(8):
        y = top + 3.0 * EM + r * PITCH
        lines += [_line(a[r], body_left, y), _line(b[r], bx, y)]
    page = Page("渝中报", IssueDate(), 1, "scan", "page:b/x/1", reading_order(lines), size=(2000, 3000))
    arts = segment_page(page)
    assert [art.title for art in arts] == ["电影《长安三万里》中"]


def test_pieces_of_a_vertical_headlines_column_that_ocr_boxes_overlapping_are_one_headline():
    # OCR read a vertical headline's column in two pieces whose boxes overlap by half a
    # character ("中国在2021年超越" / "了韩国"), beside its story's columns
    from ingest.articles import segment_page
    from rag.records import IssueDate, Page

    v = 1.5 * EM
    vx, top = 100.0, 200.0
    body_left, width, gutter = vx + v + EM, 10, EM
    bx = body_left + width * EM + gutter
    lines = [Line("中国在2021年超越", 0, v, (vx, top, vx + v, top + 8 * v)),
             Line("了韩国", 0, v, (vx + 2, top + 7.5 * v, vx + v - 2, top + 10.5 * v))]
    a, b = _columns(8, width, 2)
    a[0] = "本报讯（记者王芳）" + a[0][9:]
    for r in range(8):
        y = top + r * PITCH
        lines += [_line(a[r], body_left, y), _line(b[r], bx, y)]
    page = Page("渝中报", IssueDate(), 1, "scan", "page:b/x/1", reading_order(lines), size=(2000, 3000))
    arts = segment_page(page)
    assert [art.title for art in arts] == ["中国在2021年超越了韩国"]


def test_lines_measured_large_over_a_paragraph_end_and_an_indented_opening_are_found_on_the_grid():
    # a column's top lines OCR measured large (Latin and digits): "均有所下降。核心",
    # "CPI同比下降至", then the paragraph's short end "4.7%", then a paragraph opening two ems
    # in: the short end overlaps the indented line below it by less than half its width
    body_left, width, gutter, top = 100.0, 10, EM, 200.0
    bx = body_left + width * EM + gutter
    lines = [_line("夜市经济火热老街人气旺", body_left, top, 2.2 * EM)]
    a, b = _columns(8, width, 2)
    big = {0: ("均有所下降。核心", 1.13, 8), 1: ("CPI同比下降至", 1.38, 7.5), 2: ("4.7%", 1.15, 2.5)}
    for r in range(8):
        y = top + 3.0 * EM + r * PITCH
        lines.append(_line(a[r], body_left, y))
        if r in big:
            text, k, n = big[r]
            lines.append(Line(text, 0, k * EM, (bx, y, bx + n * k * EM, y + 0.85 * EM)))
        elif r == 3:
            lines.append(_line(b[r][:8], bx + 2 * EM, y))
        else:
            lines.append(_line(b[r], bx, y))
    ro = reading_order(lines)
    assert [ln.text for ln in ro if ln.block == 0] == ["夜市经济火热老街人气旺"]
    assert {ln.block for ln in ro if ln.text in ("均有所下降。核心", "CPI同比下降至", "4.7%")} == {1}


def _side_by_side_stories(first_row: list[Line]) -> list:
    """Two one-column stories side by side (a one-em gutter), each under a headline of two
    centred lines in twice body type: "城南老街改造" / "人气正旺" and "江北新区招商" / "引资正忙";
    ``first_row``: how OCR read the headlines' first lines. Their articles, read as a scan."""
    from ingest.articles import segment_page
    from rag.records import IssueDate, Page

    head = 2 * EM
    lines = list(first_row)
    lines += [_line("人气正旺", _LEFT + 2 * EM, _TOP + 1.2 * head, head),
              _line("引资正忙", _RIGHT + 2 * EM, _TOP + 1.2 * head, head)]
    a, b = _columns(8, 12, 2)
    a[0] = "本报讯（记者王芳）" + a[0][9:]
    b[0] = "本报讯（记者李明）" + b[0][9:]
    for r in range(8):
        y = _TOP + 3.0 * head + r * PITCH
        lines += [_line(a[r], _LEFT, y), _line(b[r], _RIGHT, y)]
    page = Page("渝中报", IssueDate(), 1, "scan", "page:b/x/1", reading_order(lines), size=(2000, 3000))
    return segment_page(page)


def test_two_headlines_side_by_side_ocr_read_as_one_line_are_cut_at_the_gutter():
    # OCR read both headlines' first lines as one line across the one-em gutter: each story's
    # second line stands centred under its own half, not under the whole
    row = Line("城南老街改造江北新区招商", 0, 2 * EM, (_LEFT, _TOP, _RIGHT + 12 * EM, _TOP + 1.7 * EM))
    got = sorted((a.title, a.byline) for a in _side_by_side_stories([row]))
    assert got == [("城南老街改造人气正旺", "记者 王芳"), ("江北新区招商引资正忙", "记者 李明")]


def test_two_headlines_side_by_side_whose_ocr_boxes_reach_over_the_gutter_stay_apart():
    # OCR's boxes of the two first lines reach into the one-em gutter and overlap a little:
    # not one headline cut at a wide space
    left = Line("城南老街改造", 0, 2 * EM, (_LEFT, _TOP, _LEFT + 12 * EM + 0.8 * EM, _TOP + 1.7 * EM))
    right = Line("江北新区招商", 0, 2 * EM, (_RIGHT - 0.4 * EM, _TOP, _RIGHT + 12 * EM, _TOP + 1.7 * EM))
    got = sorted((a.title, a.byline) for a in _side_by_side_stories([left, right]))
    assert got == [("城南老街改造人气正旺", "记者 王芳"), ("江北新区招商引资正忙", "记者 李明")]


def test_a_small_titles_lines_a_little_over_the_body_pitch_apart_stay_headline():
    # a title in 1.3 body sizes, its two lines and the subtitle in body type under them each
    # 1.13 body line pitches apart (a headline's leading): off the body's grid, which a body
    # line OCR measured large stands on (within a tenth of a pitch)
    title, mid = 1.3 * EM, _LEFT + 6 * EM  # (centred over the first column)
    step = 1.13 * PITCH

    def centred(text: str, cy: float, em: float) -> Line:
        w = len(text) * em
        return Line(text, 0, em, (mid - w / 2, cy - 0.425 * em, mid + w / 2, cy + 0.425 * em))

    cy = _TOP + 0.5 * title
    head = [centred("城南老街改造后", cy, title), centred("夜市人气更旺了", cy + step, title),
            centred("韩鹏主持并讲话", cy + 2 * step, EM)]
    art = _one_story(head, (cy + 2 * step + 1.3 * PITCH - _TOP) / EM)
    assert (art.title, art.subtitle) == ("城南老街改造后 夜市人气更旺了", "韩鹏主持并讲话")


def _stacked_story(rows: list[tuple[str, float]]):
    """``_one_story`` under headline lines ``rows`` (text, OCR's size) set flush left from
    ``_TOP``, 1.35 sizes apart, the body half a body size under the last."""
    head, y = [], _TOP
    for text, em in rows:
        head.append(_line(text, _LEFT, y, em))
        y += 1.35 * em
    return _one_story(head, (y + 0.5 * EM - _TOP) / EM)


def test_a_kicker_of_two_lines_over_a_title_and_subtitle_a_size_below_it_is_told_by_its_pitch():
    # kicker and subtitle a size below the title (1.15 and 1.3 body sizes, as OCR measures
    # their pitch), each round a title of two lines: the title is the lines of its pitch
    kick, title = 1.15 * EM, 1.3 * EM
    rows = [("奋进新征程", kick), ("建功新时代", kick), ("城南老街改造后", title), ("夜市人气更旺了", title),
            ("韩鹏主持并讲话", kick)]
    art = _stacked_story(rows)
    assert (art.kicker, art.title, art.subtitle) == ("奋进新征程 建功新时代", "城南老街改造后 夜市人气更旺了", "韩鹏主持并讲话")


def test_a_kicker_a_size_below_its_title_leaves_a_subtitle_about_the_titles_size_to_its_wording():
    # the kicker a size below the title; the subtitle as OCR measured it neither the title's
    # size nor clearly below it (0.92-0.93 of the title's lines), told by the paper's wording
    # ("…主持并讲话")
    rows = [("聚焦高质量发展", 1.15 * EM), ("城南老街改造后", 1.3 * EM), ("夜市人气更旺了", 1.32 * EM),
            ("韩鹏主持并讲话", 1.215 * EM)]
    art = _stacked_story(rows)
    assert (art.kicker, art.title, art.subtitle) == ("聚焦高质量发展", "城南老街改造后 夜市人气更旺了", "韩鹏主持并讲话")


def test_a_kicker_in_body_type_right_over_a_centred_title_is_headline():
    # a kicker set in body type, centred over a title centred on the first column, two thirds of a
    # body size over it (off the body's grid): not a body line (none stands right above it)
    mid, title = _LEFT + 6 * EM, 1.5 * EM

    def centred(text: str, y: float, em: float) -> Line:
        w = len(text) * em
        return Line(text, 0, em, (mid - w / 2, y, mid + w / 2, y + 0.85 * em))

    head = [centred("民生实事进行时", _TOP, EM), centred("城南老街改造后", _TOP + 0.85 * EM + 20, title)]
    art = _one_story(head, 4.0)
    assert (art.kicker, art.title) == ("民生实事进行时", "城南老街改造后")
