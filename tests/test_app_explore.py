"""The 时间线 and 浏览 tabs' handlers on a small dated archive of our own (fake models, a fake
name extractor); the browser tests drive the same tabs in the real app."""

from __future__ import annotations

import re
from types import SimpleNamespace

import gradio as gr
import pytest
from PIL import Image

from ingest.chunks import chunk_article
from ingest.page_images import PageImages
from rag.answering import AnswerChain
from rag.archive import Archive
from rag.catalogue import Catalogue
from rag.chat_models import ExtractiveChat
from rag.embedding import FakeEmbedder
from rag.keyword import KeywordIndex
from rag.records import Article, IssueDate, PageKey, Place
from rag.retrieval import HybridRetriever
from rag.store import InMemoryStore
from ui.app import TABS, AppServices, build_app
from ui.app.browse import NO_RELATED, UNDATED_RELATED, BrowseTab
from ui.app.explore_views import UNDATED, period_label, render_issue_pages
from ui.app.feedback import FeedbackLog
from ui.app.timeline import TimelineTab

NAMES = {"张三": "person", "涿州": "place", "应急管理局": "organization"}


def fake_names(text: str):
    """The fake extractor: the names of NAMES the text holds, with their counts."""
    return [(name, kind, text.count(name)) for name, kind in NAMES.items() if name in text]


def _art(i: int, day: str, text: str, title: str = "", paper: str = "晚报", page: int | None = 1,
         page_key: str = "", place: Place | None = None) -> Article:
    return Article(f"a{i}", f"s{i}", paper, IssueDate(day), page, title or f"第{i}条新闻", text,
                   page_key=page_key or f"doc:a{i}", source=f"s{i}", place=place)


IMAGE = "pages/p1.jpg"
PAGE_KEY = str(PageKey.of_page("晚报", "2023-08-01", 1))
FIXTURE = [
    _art(1, "2023-07-29", "台风杜苏芮逼近，气象台发布预警。"),
    _art(2, "2023-07-30", "杜苏芮带来强降雨，涿州部分村庄进水。张三在现场指挥转移。"),
    _art(3, "2023-07-31", "涿州市应急管理局组织救援队转移群众。", paper="日报", page=2),
    # two articles of one PDF page, outlined on its image
    _art(4, "2023-08-01", "救援队连夜赶到涿州，张三说物资已经送达。", title="救援队驰援涿州", page_key=PAGE_KEY,
         place=Place(IMAGE, (600.0, 800.0), (30.0, 40.0, 300.0, 400.0))),
    _art(5, "2023-08-01", "<script>alert(1)</script>供电公司抢修线路，涿州城区恢复供电。", title="<b>抢修</b>供电",
         page_key=PAGE_KEY, place=Place(IMAGE, (600.0, 800.0), (300.0, 40.0, 570.0, 760.0))),
    _art(6, "2023-08-20", "涿州灾后重建工作启动。", paper="日报", page=3),
    _art(7, "", "涿州居民回忆抗洪经过。", page=None),  # undated
    _art(8, "", "某地举办书法展，只有这一篇提到书法展。", page=None),  # undated, on its own
]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> SimpleNamespace:
    home = tmp_path_factory.mktemp("home")
    images = PageImages(home)
    images.root.mkdir(parents=True)
    Image.new("RGB", (60, 80), "white").save(images.root / "p1.jpg")
    keyword = KeywordIndex()
    arch = Archive(InMemoryStore("fake"), keyword, Catalogue(keyword.db, entities=fake_names))
    chunks = [c for a in FIXTURE for c in chunk_article(a)]
    arch.add(chunks, FakeEmbedder().embed_documents([c.embed_text for c in chunks]))
    chain = AnswerChain(HybridRetriever(FakeEmbedder(), arch), ExtractiveChat())
    s = AppServices(chain, FeedbackLog(home / "feedback.jsonl"), home / "library", images=images)
    return SimpleNamespace(s=s, tl=TimelineTab(s), browse=BrowseTab(s))


def _sel(index) -> SimpleNamespace:
    return SimpleNamespace(index=index, value=None)


# --- 时间线 ------------------------------------------------------------------------------------


def test_timeline_counts_cites_first_and_last_and_tables_the_busy_periods(app):
    head, chart, rows, state, names, note, listing, summary = app.tl.run("涿州", "", "", "按周", "全部报纸")
    assert "共 <b>6</b> 篇，日期不详 <b>1</b> 篇" in head
    first, last = head.split("最近一次提及")
    assert "最早提及" in first and "2023年7月30日" in first and "<mark>杜苏芮带来强降雨，涿州部分村庄进水。</mark>" in first
    assert "2023年8月20日" in last and "第3版" in last and "日报" in last
    # weeks Monday to Sunday: 07-24, 07-31, 08-07 (empty), 08-14; the chart has every one, the table the busy ones
    assert list(chart.value["data"]) == [["2023-07-24～07-30", 1], ["2023-07-31～08-06", 3], ["2023-08-07～08-13", 0],
                                         ["2023-08-14～08-20", 1]] and chart.visible
    assert rows == [["2023-07-24～07-30", 1], ["2023-07-31～08-06", 3], ["2023-08-14～08-20", 1], [UNDATED, 1]]
    assert sum(r[1] for r in rows) == 6
    assert names["visible"] and note == ""
    assert {(n[0], n[1]) for n in names["value"]} == {("涿州", "地点"), ("张三", "人物"), ("应急管理局", "机构")}
    assert listing == summary == ""
    assert state["rows"][-1] == UNDATED


def test_a_period_row_and_a_brushed_range_list_their_articles_cited(app):
    state = app.tl.run("涿州", "", "", "按周", "全部报纸")[3]
    week = app.tl.open_period(_sel([1, 0]), state)
    assert "2023-07-31～08-06：3 篇" in week
    assert week.count('class="nr-card"') == 3
    assert re.findall(r"2023年\d+月\d+日", week) == ["2023年7月31日", "2023年8月1日", "2023年8月1日"]
    assert "<script>" not in week and "&lt;script&gt;" in week and "&lt;b&gt;抢修&lt;/b&gt;供电" in week
    assert week.count("<mark>") == 3  # each card's quote
    assert 'class="nr-crop"' in week and "/gradio_api/file=" in week  # the PDF page's articles show their crop
    undated = app.tl.open_period(_sel([3, 0]), state)
    assert "日期不详：1 篇" in undated and "涿州居民回忆抗洪经过。" in undated and "书法展" not in undated
    brushed = app.tl.open_brushed(_sel(["2023-07-24～07-30", "2023-07-31～08-06", "2023-08-07～08-13"]), state)
    assert "2023-07-24～07-30 至 2023-08-07～08-13：4 篇" in brushed and brushed.count('class="nr-card"') == 4
    assert app.tl.open_period(_sel([9, 0]), state) == "" and app.tl.open_period(_sel([0, 0]), None) == ""
    assert app.tl.open_brushed(_sel(["不是一期"]), state) == ""


def test_by_day_and_month_a_range_and_a_paper(app):
    _, chart, rows, *_ = app.tl.run("涿州", "2023-7-31", "2023-08-02", "按日", "全部报纸")
    assert rows == [["2023-07-31", 1], ["2023-08-01", 2], [UNDATED, 1]]
    assert [r[0] for r in chart.value["data"]] == ["2023-07-31", "2023-08-01", "2023-08-02"]
    assert app.tl.run("涿州", "", "", "按月", "全部报纸")[2] == [["2023-07", 2], ["2023-08", 3], [UNDATED, 1]]
    head, _, rows, *_ = app.tl.run("涿州", "", "", "按月", "日报")
    assert rows == [["2023-07", 1], ["2023-08", 1]] and "共 <b>2</b> 篇，日期不详 <b>0</b> 篇" in head
    assert "日报" in app.tl.paper_choices() and "晚报" in app.tl.paper_choices()


def test_several_words_find_articles_holding_all(app):
    head, _, rows, *_ = app.tl.run("涿州 救援队", "", "", "按日", "全部报纸")
    assert "共 <b>2</b> 篇" in head and rows == [["2023-07-31", 1], ["2023-08-01", 1]]


def test_an_undated_topic_says_so_instead_of_an_empty_chart(app):
    head, chart, rows, state, names, note, *_ = app.tl.run("书法展", "", "", "按周", "全部报纸")
    assert "共 <b>1</b> 篇，日期不详 <b>1</b> 篇" in head and "都没有注明出版日期" in head and "最早提及" not in head
    assert chart.visible is False and rows == [[UNDATED, 1]]
    assert "书法展" in app.tl.open_period(_sel([0, 0]), state)
    assert not names["visible"] and names["value"] == [] and "没有记录到人物" in note
    assert "没有可以按日期排列的报道" in app.tl.summary(state)
    nothing = app.tl.run("没有的词", "", "", "按周", "全部报纸")
    assert "没有找到同时含有“没有的词”" in nothing[0] and nothing[2] == [] and nothing[5] == ""


def test_the_account_links_each_line_to_its_card(app):
    state = app.tl.run("涿州", "", "", "按日", "全部报纸")[3]
    html = app.tl.summary(state)
    links = re.findall(r'href="#(nr-tl-sum-\d+)"', html)
    assert len(links) >= 2 and all(f'id="{a}"' in html for a in links)
    dates = re.findall(r'<span class="nr-date">([^<]+)</span>', html)
    assert dates[0] == "2023年7月30日" and dates[-1] == "2023年8月20日"
    assert "<script>" not in html


def test_a_click_on_a_name_runs_that_names_timeline(app):
    state = app.tl.run("涿州", "", "", "按周", "全部报纸")[3]
    row = state["names"].index("张三")
    query, head, _chart, rows, new_state, *_ = app.tl.open_name(_sel([row, 0]), state, "", "", "按周", "全部报纸")
    assert query == "张三" and "“张三”：共 <b>2</b> 篇" in head and new_state["form"]["query"] == "张三"
    assert app.tl.open_name(_sel([99, 0]), state, "", "", "按周", "全部报纸") == (gr.skip(),) * 9


@pytest.mark.parametrize(("args", "message"), [
    (("  ", "", "", "按周", "全部报纸"), "检索词是空的"),
    (("涿州", "7/31", "", "按周", "全部报纸"), "开始日期应写成"),
    (("涿州", "", "2023-02-30", "按周", "全部报纸"), "结束日期应写成"),
    (("涿州", "2023-08-10", "2023-07-31", "按周", "全部报纸"), "开始日期晚于结束日期"),
])
def test_timeline_errors_are_chinese_first(app, args, message):
    with pytest.raises(gr.Error, match=message):
        app.tl.run(*args)


def test_summary_before_a_timeline_asks_for_one(app):
    with pytest.raises(gr.Error, match="查看时间线"):
        app.tl.summary(None)


def test_period_labels():
    assert period_label("2023-07-31", "2023-08-06", "week") == "2023-07-31～08-06"
    assert period_label("2023-07-01", "2023-07-31", "month") == "2023-07"
    assert period_label("2023-07-31", "2023-07-31", "day") == "2023-07-31"


# --- 浏览 --------------------------------------------------------------------------------------


def test_issue_choices_are_labelled_and_a_date_picks_its_issues(app):
    choices = dict(app.browse.issue_choices())
    assert choices and all(isinstance(k, str) for k in choices.values())
    assert "晚报 2023年8月1日 第1版" in choices and choices["晚报 2023年8月1日 第1版"] == "page:晚报/2023-08-01"
    picker, status, pages, rows, ids = app.browse.pick_date("2023-8-1")
    assert picker["value"] == "page:晚报/2023-08-01" and [c[1] for c in picker["choices"]] == ["page:晚报/2023-08-01"]
    assert "1 个版面，2 篇文章" in status
    assert rows == [["第1版", "救援队驰援涿州", "—"], ["第1版", "<b>抢修</b>供电", "—"]] and ids == ["a4", "a5"]
    assert app.browse.pick_date("2023-09-09")[1] == "档案里没有 2023-09-09 的报纸。"
    with pytest.raises(gr.Error, match="日期应写成"):
        app.browse.pick_date("9月9日")
    with pytest.raises(gr.Error, match="请输入日期"):
        app.browse.pick_date(" ")


def test_a_page_image_shows_each_article_outlined_where_it_stands(app):
    _, pages, _, _ = app.browse.show_issue("page:晚报/2023-08-01")
    assert pages.count('class="nr-region"') == 2 and 'src="/gradio_api/file=' in pages
    # region (30, 40, 300, 400) on a 600 x 800 page
    assert "left:5.00%;top:5.00%;width:45.00%;height:45.00%" in pages
    assert 'padding-top:133.33%' in pages
    assert "<b>" not in pages and "&lt;b&gt;抢修&lt;/b&gt;供电" in pages
    assert re.findall(r"<li>([^<]*)</li>", pages) == ["救援队驰援涿州", "&lt;b&gt;抢修&lt;/b&gt;供电"]


def test_text_pages_list_their_headlines_without_an_image(app):
    status, pages, rows, ids = app.browse.show_issue("doc:日报/2023-07-31")
    assert "nr-region" not in pages and "<img" not in pages and "第2版 · 1 篇" in pages and "第3条新闻" in pages
    assert rows == [["第2版", "第3条新闻", "—"]] and ids == ["a3"]
    assert app.browse.show_issue("") == ("选择一期报纸，或输入日期查找。", "", [], [])
    assert app.browse.show_issue("page:没有/这一期")[0].startswith("档案里没有这一期")


def test_render_issue_pages_without_an_image_server_lists_headlines_only(app):
    cat = app.s.archive.catalogue
    html = render_issue_pages(cat.pages_of("page:晚报/2023-08-01"), cat.articles(issue_key="page:晚报/2023-08-01"))
    assert "<img" not in html and "救援队驰援涿州" in html


def test_opening_an_article_shows_its_text_names_and_coverage_on_other_dates(app):
    out = app.browse.open_row(_sel([0, 1]), ["a4", "a5"])
    html, names, name_list, names_note, earlier, earlier_ids, later, later_ids, note = out
    assert "救援队连夜赶到涿州" in html and "第1版" in html and "2023年8月1日" in html
    assert names["visible"] and {tuple(r) for r in names["value"]} == {("涿州", "地点", 2), ("张三", "人物", 1)}  # 涿州 in the headline too
    assert set(name_list) == {"涿州", "张三"} and names_note == ""
    by_id = {a.article_id: a for a in FIXTURE}
    assert earlier_ids and all(by_id[a].date.iso < "2023-08-01" for a in earlier_ids)
    assert later_ids and all(by_id[a].date.iso > "2023-08-01" for a in later_ids)
    assert "a5" not in earlier_ids + later_ids  # the same day is not "other coverage"
    assert len(earlier["value"]) == len(earlier_ids) and earlier["value"][0][0].startswith("2023年7月")
    days = [by_id[a].date.iso for a in earlier_ids + later_ids]
    assert days == sorted(days)  # each table in date order
    assert note == ""
    # a related row opens that article in turn
    again = app.browse.open_row(_sel([0, 0]), later_ids)
    assert by_id[later_ids[0]].text[:6] in again[0]
    assert app.browse.open_row(_sel([5, 0]), ["a4"]) == (gr.skip(),) * 9


def test_an_undated_article_says_why_it_has_no_related_coverage(app):
    *_, earlier, _, later, _, note = app.browse.open_article("a7")
    assert note == UNDATED_RELATED and not earlier["visible"] and not later["visible"]
    out = app.browse.open_article("a8")
    assert out[3] == "这篇文章里没有记录到人物、机构或地点。" and not out[1]["visible"]
    assert app.browse.open_article("nope")[0] == "<p>这篇文章已不在档案中。</p>"
    assert NO_RELATED != UNDATED_RELATED


def test_a_name_click_hands_the_name_over(app):
    assert app.browse.pick_name(_sel([1, 0]), ["涿州", "张三"]) == "张三"
    assert app.browse.pick_name(_sel([4, 0]), ["涿州"]) == ""


# --- the app -----------------------------------------------------------------------------------


def _tabs(demo: gr.Blocks) -> list[gr.Tab]:
    return [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]


def test_tabs_in_order_and_a_name_from_browse_opens_the_timeline_tab(app):
    demo = build_app(app.s)
    assert len(TABS) == 6
    assert [t.label for t in _tabs(demo)] == ["问答", "检索", "时间线", "浏览", "质量评测", "档案管理"]
    (tabs,) = [b for b in demo.blocks.values() if isinstance(b, gr.Tabs)]
    # the event chained after a name click in 浏览: switches to 时间线 and runs the name's timeline
    (hook,) = [f for f in demo.fns.values() if any(o is tabs for o in f.outputs)]
    switched, query, head, *_ = hook.fn("张三", "", "", "按周", "全部报纸")
    assert switched.selected == "timeline" and query == "张三" and "“张三”：共 <b>2</b> 篇" in head
    assert hook.fn("", "", "", "按周", "全部报纸") == (gr.skip(),) * 10
    ids = {b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert {"nr-timeline-query", "nr-timeline-go", "nr-timeline-chart", "nr-timeline-periods", "nr-timeline-articles",
            "nr-timeline-summary", "nr-timeline-names", "nr-browse-issue", "nr-browse-pages", "nr-browse-articles",
            "nr-browse-article", "nr-browse-earlier", "nr-browse-later", "nr-browse-related-note"} <= ids
    assert {"nr-chat", "nr-search-query", "nr-search-results", "nr-issues", "nr-upload"} <= ids  # unchanged
