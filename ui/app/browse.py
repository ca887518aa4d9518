"""浏览 (reporters): an issue's pages, each article outlined on the page image, its articles
table; an article opened whole (its story across pages), the names it mentions (a click looks
the name up in 时间线) and coverage of the same event on other dates."""

from __future__ import annotations

import gradio as gr

from rag.catalogue import ArticleEntry
from rag.errors import NewsragError
from rag.explore import related
from rag.filters import date_int
from ui.app.common import AppContext, user_error
from ui.app.explore_views import KIND_ZH, headline_of, render_issue_pages
from ui.app.services import AppServices
from ui.app.views import render_article

__all__ = ["BrowseTab", "build"]

NO_RELATED = "没有找到其他日期的相关报道。"
UNDATED_RELATED = "这篇文章日期不详，无法按日期查找前后的相关报道。"


def _page(a: ArticleEntry) -> str:
    return f"第{a.page}版" if a.page else "版次不详"


class BrowseTab:
    """The handlers behind the 浏览 tab."""

    def __init__(self, services: AppServices) -> None:
        self.s = services

    def issue_choices(self, day: str | None = None) -> list[tuple[str, str]]:
        """(label, issue key) of every issue, newest first; of one day with ``day`` (ISO)."""
        return [(i.label_zh(), i.key) for i in self.s.archive.issues(day, day)]

    def issue_filter(self) -> dict:
        """The issue picker refreshed: on each visit, and after an upload or a deletion."""
        return gr.update(choices=self.issue_choices())

    def pick_date(self, day: str) -> tuple:
        """The issues of one day in the picker, the first of them shown."""
        try:
            d = date_int((day or "").strip() or None)
        except NewsragError as exc:
            raise user_error(exc) from None
        if d is None:
            raise gr.Error("请输入日期，例如 2023-12-01。")
        iso = f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}"
        choices = self.issue_choices(iso)
        if not choices:
            return (gr.update(), f"档案里没有 {iso} 的报纸。", "", [], [])
        return (gr.update(choices=choices, value=choices[0][1]), *self.show_issue(choices[0][1]))

    def show_issue(self, key: str) -> tuple:
        """(status, pages HTML, articles rows, their ids) of one issue."""
        if not key:
            return "选择一期报纸，或输入日期查找。", "", [], []
        cat = self.s.archive.catalogue
        issue = cat.issue(key)
        if issue is None:
            return "档案里没有这一期（可能已被删除）。", "", [], []
        pages, arts = cat.pages_of(key), cat.articles(issue_key=key)
        rows = [[_page(a), headline_of(a), a.byline or "—"] for a in arts]
        status = (f"**{issue.label_zh()}**：{len(pages)} 个版面，{len(arts)} 篇文章。"
                  "版面图上的红框是各篇文章的位置，编号与标题列表一致；点击下表中的一篇阅读全文。")
        return status, render_issue_pages(pages, arts, self.s.image_url), rows, [a.article_id for a in arts]

    def open_row(self, evt: gr.SelectData, ids: list[str]) -> tuple:
        """A click on a row of the articles table, or of a related-coverage table."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not ids or not 0 <= int(row) < len(ids):
            return (gr.skip(),) * 9
        return self.open_article(ids[int(row)])

    def open_article(self, article_id: str) -> tuple:
        """(article HTML, names table, names, names note, earlier table, their ids, later table,
        their ids, related note) of one article."""
        parts = self.s.archive.story(article_id)
        if not parts:
            hidden = gr.update(value=[], visible=False)
            return "<p>这篇文章已不在档案中。</p>", hidden, [], "", hidden, [], hidden, [], ""
        html = "".join(render_article(hit, text) for hit, text in parts)
        merged: dict[tuple[str, str], int] = {}
        for found in self.s.archive.catalogue.names_of([h.article_id for h, _ in parts]).values():
            for name, kind, n in found:
                merged[(name, kind)] = merged.get((name, kind), 0) + n
        names = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0][0]))
        name_rows = [[name, KIND_ZH.get(kind, kind), n] for (name, kind), n in names]
        names_note = "" if names else "这篇文章里没有记录到人物、机构或地点。"
        entry = self.s.archive.entry(article_id)
        earlier, later = related(self.s.archive, article_id)
        note = ""
        if entry is not None and not entry.date.iso:
            note = UNDATED_RELATED
        elif not earlier and not later:
            note = NO_RELATED
        return (html, gr.update(value=name_rows, visible=bool(name_rows)), [n for (n, _), _ in names], names_note,
                *self._related(earlier), *self._related(later), note)

    @staticmethod
    def _related(arts: list[ArticleEntry]) -> tuple[dict, list[str]]:
        """A related-coverage table (the nearest few, listed in date order) and its article ids."""
        arts = sorted(arts, key=lambda a: a.date.iso)
        rows = [[a.date.label_zh(a.issue), a.paper or "报名不详", _page(a), headline_of(a)] for a in arts]
        return gr.update(value=rows, visible=bool(rows)), [a.article_id for a in arts]

    def pick_name(self, evt: gr.SelectData, names: list[str]) -> str:
        """A click on a name: the name, which 时间线 then looks up ("" for none)."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return names[int(row)] if names and 0 <= int(row) < len(names) else ""


def build(ctx: AppContext) -> None:
    """The 浏览 tab; its issue picker follows the archive, and a name opens in 时间线."""
    tab = BrowseTab(ctx.services)
    with gr.Tab("浏览", id="browse"):
        ids, names_state, earlier_ids, later_ids, picked = (gr.State([]), gr.State([]), gr.State([]), gr.State([]),
                                                            gr.State(""))
        with gr.Row():
            day = gr.Textbox(label="日期", placeholder="2023-12-01", scale=1, elem_id="nr-browse-date")
            day_go = gr.Button("按日期查找", scale=0, min_width=120, elem_id="nr-browse-date-go")
            issue = gr.Dropdown(tab.issue_choices(), value=None, label="期次", scale=3, elem_id="nr-browse-issue")
        status = gr.Markdown("选择一期报纸，或输入日期查找。", elem_id="nr-browse-status")
        pages = gr.HTML(elem_id="nr-browse-pages")
        table = gr.Dataframe(headers=["版次", "标题", "作者"], interactive=False, wrap=True, column_widths=["12%", "66%", "22%"],
                             label="本期文章（点击一行阅读全文）", elem_id="nr-browse-articles")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                article = gr.HTML(elem_id="nr-browse-article")
            with gr.Column(scale=2, min_width=260):
                names = gr.Dataframe(headers=["名称", "类型", "提及"], datatype=["str", "str", "number"], interactive=False,
                                     visible=False, label="文中的人物、机构、地点（点击名称查看它的时间线）",
                                     elem_id="nr-browse-names")
                names_note = gr.Markdown("", elem_id="nr-browse-names-note")
                headers = ["日期", "报名", "版次", "标题"]
                earlier = gr.Dataframe(headers=headers, interactive=False, wrap=True, visible=False,
                                       label="更早的报道（点击一行阅读）", elem_id="nr-browse-earlier")
                later = gr.Dataframe(headers=headers, interactive=False, wrap=True, visible=False,
                                     label="之后的报道（点击一行阅读）", elem_id="nr-browse-later")
                related_note = gr.Markdown("", elem_id="nr-browse-related-note")
    shown = [status, pages, table, ids]
    opened = [article, names, names_state, names_note, earlier, earlier_ids, later, later_ids, related_note]
    gr.on([day_go.click, day.submit], tab.pick_date, [day], [issue, *shown], api_visibility="private")
    issue.input(tab.show_issue, [issue], shown, api_visibility="private")
    for source, source_ids in ((table, ids), (earlier, earlier_ids), (later, later_ids)):
        source.select(tab.open_row, [source_ids], opened, api_visibility="private")
    ctx.opens_topic(names.select(tab.pick_name, [names_state], [picked], api_visibility="private"), picked)
    ctx.follows_archive(tab.issue_filter, issue)
