"""时间线 (reporters): a topic over time. Every article holding the query, counted per day, week
or month (chart and table), the first and last mention cited, a period's articles on a click,
a dated account on demand, and the people, organisations and places around the topic."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from rag.errors import NewsragError
from rag.explore import Timeline, cite_matches, timeline
from rag.filters import date_int
from ui.app.common import AppContext, user_error
from ui.app.explore_views import KIND_ZH, UNDATED, period_label, render_summary, render_timeline_head
from ui.app.services import AppServices
from ui.app.views import render_sources

__all__ = ["ALL_PAPERS", "BY_ZH", "TimelineTab", "build"]

BY_ZH = {"按日": "day", "按周": "week", "按月": "month"}
ALL_PAPERS = "全部报纸"
MAX_LISTED = 50  # cited cards listed for one period (or brushed range)
TAB_ID = "timeline"


def _iso(value: str, name: str) -> str | None:
    """A form date as ISO (``2023-7-1`` becomes ``2023-07-01``); the library's message names a bad one."""
    d = date_int((value or "").strip() or None, name)
    return f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}" if d else None


class TimelineTab:
    """The handlers behind the 时间线 tab. The state of one look-up is a dict: the form, the
    ``Timeline``, its undated matches, and what each row of the two tables stands for."""

    def __init__(self, services: AppServices) -> None:
        self.s = services

    def paper_choices(self) -> list[str]:
        return [ALL_PAPERS] + sorted({i.paper for i in self.s.archive.issues() if i.paper})

    def paper_filter(self) -> dict:
        """The paper filter refreshed: on each visit, and after an upload or a deletion."""
        return gr.update(choices=self.paper_choices())

    def _form(self, query: str, date_from: str, date_to: str, by: str, paper: str) -> dict:
        return {"query": (query or "").strip(), "date_from": _iso(date_from, "date_from"), "date_to": _iso(date_to, "date_to"),
                "by": BY_ZH.get(by, by or "week"), "paper": None if paper in (None, "", ALL_PAPERS) else paper}

    def run(self, query: str, date_from: str, date_to: str, by: str, paper: str) -> tuple:
        """(head HTML, chart, periods rows, state, names table, names note, cleared article list, cleared account)."""
        try:
            form = self._form(query, date_from, date_to, by, paper)
            tl = timeline(self.s.archive, **form)
            undated = list(tl.undated_matches)  # counted apart, listed apart
            ids = [m.article.article_id for m in (*tl.matches, *undated)]
            names = self.s.archive.catalogue.names(article_ids=ids, limit=30) if ids else []
        except NewsragError as exc:
            raise user_error(exc) from None
        busy = [p for p in tl.periods if p.articles]
        rows = [[period_label(p.start, p.end, tl.by), p.articles] for p in busy]
        keys = [p.start for p in busy]
        if undated:
            rows.append([UNDATED, len(undated)])
            keys.append(UNDATED)
        state = {"form": form, "tl": tl, "undated": undated, "rows": keys, "names": [n.name for n in names]}
        name_rows = [[n.name, KIND_ZH.get(n.kind, n.kind), n.articles, n.first or "—", n.last or "—"] for n in names]
        note = "" if names or not tl.total else "这些文章里没有记录到人物、机构或地点（档案可能尚未提取人名地名）。"
        return (render_timeline_head(tl, self.s.image_url), self._chart(tl), rows, state,
                gr.update(value=name_rows, visible=bool(name_rows)), note, "", "")

    @staticmethod
    def _chart(tl: Timeline) -> Any:
        """Articles per period, every period of the range (empty ones too); hidden when none is dated."""
        if not tl.periods:
            return gr.BarPlot(value=None, visible=False)
        df = pd.DataFrame({"期间": [period_label(p.start, p.end, tl.by) for p in tl.periods],
                           "篇数": [p.articles for p in tl.periods]})
        return gr.BarPlot(value=df, visible=True, x_label_angle=-45 if len(df) > 10 else 0)

    def open_period(self, evt: gr.SelectData, state: dict | None) -> str:
        """A click on a row of the periods table: that period's articles, cited."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not state or not 0 <= int(row) < len(state["rows"]):
            return ""
        key = state["rows"][int(row)]
        if key == UNDATED:
            return self._listing(state, [], True, UNDATED)
        (p,) = [p for p in state["tl"].periods if p.start == key]
        return self._listing(state, [key], False, period_label(p.start, p.end, state["tl"].by))

    def open_brushed(self, evt: gr.SelectData, state: dict | None) -> str:
        """A range brushed on the chart (the labels it covers): the articles of those periods."""
        if not state or not isinstance(evt.index, (list, tuple)):
            return ""
        tl: Timeline = state["tl"]
        by_label = {period_label(p.start, p.end, tl.by): p.start for p in tl.periods}
        starts = [by_label[label] for label in evt.index if label in by_label]
        if not starts:
            return ""
        labels = [label for label in evt.index if label in by_label]
        title = labels[0] if len(labels) == 1 else f"{labels[0]} 至 {labels[-1]}"
        return self._listing(state, starts, False, title)

    def _listing(self, state: dict, starts: list[str], undated: bool, title: str) -> str:
        tl: Timeline = state["tl"]
        spans = [(p.start, p.end) for p in tl.periods if p.start in starts]
        ms = sorted((m for m in tl.matches if any(a <= m.day <= b for a, b in spans)), key=lambda m: (m.day, -m.score))
        if undated:
            ms += state["undated"]
        if not ms:
            return f'<p class="nr-tl-status">{title}：没有报道。</p>'
        try:
            cites = cite_matches(self.s.archive, tl.query, ms[:MAX_LISTED])
        except NewsragError as exc:
            raise user_error(exc) from None
        head = f"{title}：{len(ms)} 篇" + (f"（下面列出前 {MAX_LISTED} 篇）" if len(ms) > MAX_LISTED else "")
        return render_sources(cites, "tl-period", self.s.image_url, head=head)

    def summary(self, state: dict | None) -> str:
        """生成经过: one dated, cited line per period that matters (extractive)."""
        if not state:
            raise gr.Error("请先输入检索词并点击「查看时间线」。")
        try:
            tl = timeline(self.s.archive, **state["form"], summary=True)
        except NewsragError as exc:
            raise user_error(exc) from None
        return render_summary(tl.summary, "tl-sum", self.s.image_url)

    def open_name(self, evt: gr.SelectData, state: dict | None, date_from: str, date_to: str, by: str, paper: str) -> tuple:
        """A click on a name of the names table: that name's own timeline (the query box set to it)."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not state or not 0 <= int(row) < len(state["names"]):
            return (gr.skip(),) * 9
        return self.show(state["names"][int(row)], date_from, date_to, by, paper)

    def show(self, name: str, date_from: str, date_to: str, by: str, paper: str) -> tuple:
        """(the query box, *``run``'s outputs) for a name looked up from this tab or another."""
        return (name, *self.run(name, date_from, date_to, by, paper))


def build(ctx: AppContext) -> None:
    """The 时间线 tab; its paper filter follows the archive, and other tabs can open a name in it."""
    tab = TimelineTab(ctx.services)
    with gr.Tab("时间线", id=TAB_ID):
        state = gr.State(None)
        with gr.Row():
            query = gr.Textbox(label="检索词", placeholder="人名、地名或事件；几个词用空格分开，找同时含有这些词的文章",
                               scale=4, elem_id="nr-timeline-query")
            go = gr.Button("查看时间线", variant="primary", scale=1, elem_id="nr-timeline-go")
        with gr.Row():
            t_from = gr.Textbox(label="开始日期", placeholder="2023-12-01", elem_id="nr-timeline-from")
            t_to = gr.Textbox(label="结束日期", placeholder="2023-12-31", elem_id="nr-timeline-to")
            by = gr.Radio(list(BY_ZH), value="按周", label="时间段", elem_id="nr-timeline-by")
            paper = gr.Dropdown(tab.paper_choices(), value=ALL_PAPERS, label="报名", elem_id="nr-timeline-paper")
        head = gr.HTML(elem_id="nr-timeline-status")
        chart = gr.BarPlot(x="期间", y="篇数", x_title="期间", y_title="篇数", sort="x", y_lim=[0, None], height=280,
                           visible=False, elem_id="nr-timeline-chart")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=260):
                periods = gr.Dataframe(headers=["期间", "篇数"], datatype=["str", "number"], interactive=False,
                                       label="各期间篇数（点击一行，或在图上拖选一段时间，查看其中的文章）",
                                       elem_id="nr-timeline-periods")
                names = gr.Dataframe(headers=["名称", "类型", "篇数", "最早", "最近"], visible=False,
                                     datatype=["str", "str", "number", "str", "str"], interactive=False, wrap=True,
                                     label="相关人物、机构、地点（点击名称查看它的时间线）", elem_id="nr-timeline-names")
                names_note = gr.Markdown("", elem_id="nr-timeline-names-note")
            with gr.Column(scale=3, min_width=300):
                listing = gr.HTML(elem_id="nr-timeline-articles")
        summary_go = gr.Button("生成经过", elem_id="nr-timeline-summary-go")
        summary = gr.HTML(elem_id="nr-timeline-summary")
    form = [t_from, t_to, by, paper]
    outputs = [head, chart, periods, state, names, names_note, listing, summary]
    gr.on([go.click, query.submit], tab.run, [query, *form], outputs, api_visibility="private")
    periods.select(tab.open_period, [state], [listing], api_visibility="private")
    chart.select(tab.open_brushed, [state], [listing], api_visibility="private")
    summary_go.click(tab.summary, [state], [summary], api_visibility="private")
    names.select(tab.open_name, [state, *form], [query, *outputs], api_visibility="private")
    ctx.follows_archive(tab.paper_filter, paper)
    ctx.shows_topics(TAB_ID, tab.show, form, [query, *outputs])
