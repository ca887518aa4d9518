"""检索 (reporters): articles matching a query, one row each, and an article's full text on a click."""

from __future__ import annotations

import gradio as gr

from rag.errors import NewsragError
from ui.app.common import ALL_PAGES, AppContext, esc, form_filters, page_choices, user_error
from ui.app.services import AppServices
from ui.app.views import highlight_terms, render_article, snippet

__all__ = ["SearchTab", "build"]


class SearchTab:
    """The handlers behind the 检索 tab."""

    def __init__(self, services: AppServices) -> None:
        self.s = services

    def search(self, query: str, date_from: str, date_to: str, page: str, top_k: float) -> tuple[list[list[str]], list[dict], str]:
        """A table of articles (one row each), the row data, and a status line."""
        try:
            hits = self.s.chain.retriever.search(query, int(top_k) * 2, form_filters(date_from, date_to, page))
        except NewsragError as exc:
            raise user_error(exc) from None
        rows, data, seen = [], [], set()
        for h in hits:
            if h.article_id in seen:
                continue
            seen.add(h.article_id)
            rows.append([h.date.label_zh(h.issue), f"第{h.page}版" if h.page else "版次不详",
                         highlight_terms(h.title or h.headline or "（无标题）", query), esc(h.byline), snippet(h.text, query)])
            data.append({"article_id": h.article_id, "query": query})
            if len(rows) >= int(top_k):
                break
        return rows, data, f"找到 {len(rows)} 篇相关文章。点击一行查看全文。" if rows else "没有找到相关文章。"

    def open_article(self, evt: gr.SelectData, data: list[dict]) -> str:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not data or not 0 <= int(row) < len(data):
            return ""
        parts = self.s.archive.story(data[int(row)]["article_id"])
        if not parts:
            return "<p>这篇文章已不在档案中。</p>"
        return "".join(render_article(hit, text, data[int(row)]["query"]) for hit, text in parts)


def build(ctx: AppContext) -> None:
    """The 检索 tab."""
    tab = SearchTab(ctx.services)
    with gr.Tab("检索", id="search"):
        hits_state = gr.State([])
        with gr.Row():
            s_query = gr.Textbox(label="检索词", placeholder="人名、地名、事件或原话", scale=4, elem_id="nr-search-query")
            s_go = gr.Button("检索", variant="primary", scale=1, elem_id="nr-search-go")
        with gr.Row():
            s_from = gr.Textbox(label="开始日期", placeholder="2023-12-01")
            s_to = gr.Textbox(label="结束日期", placeholder="2023-12-31")
            s_page = gr.Dropdown(page_choices(ctx.services.archive), value=ALL_PAGES, label="版面")
            s_k = gr.Slider(1, 50, value=10, step=1, label="最多显示几篇")
        s_status = gr.Markdown("")
        s_table = gr.Dataframe(headers=["日期", "版次", "标题", "作者", "摘要"], datatype=["str", "str", "html", "str", "html"],
                               interactive=False, wrap=True, elem_id="nr-search-results",
                               column_widths=["16%", "8%", "30%", "10%", "36%"])
        s_article = gr.HTML(elem_id="nr-article")
        gr.on([s_go.click, s_query.submit], tab.search, [s_query, s_from, s_to, s_page, s_k], [s_table, hits_state, s_status],
              api_name="ui_search", api_visibility="private")
        s_table.select(tab.open_article, [hits_state], [s_article], api_visibility="private")
