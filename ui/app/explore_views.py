"""HTML of the 时间线 and 浏览 tabs: a timeline's head and dated account, an issue's pages
with each article outlined on the page image.

Pure functions, no Gradio, tested directly. Corpus text goes through ``html.escape``
before any markup is put around it, as in ``views``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from rag.catalogue import ArticleEntry, PageEntry
from rag.explore import SummaryLine, Timeline
from ui.app.views import render_sources

__all__ = ["EXPLORE_CSS", "KIND_ZH", "UNDATED", "headline_of", "period_label", "render_issue_pages",
           "render_summary", "render_timeline_head"]

UNDATED = "日期不详"
KIND_ZH = {"person": "人物", "organization": "机构", "place": "地点"}
ImageUrl = Callable[[str], str | None] | None

EXPLORE_CSS = """
.nr-tl-status { font-size: 1.05em; margin: 4px 0; }
.nr-tl-note { border-left: 4px solid #2563eb; background: #eff6ff; color: #1e3a8a; padding: 6px 10px; margin: 4px 0 8px; border-radius: 4px; }
.nr-tl-ends { display: flex; flex-wrap: wrap; gap: 12px; }
.nr-tl-ends > .nr-sources { flex: 1 1 320px; }
.nr-summary li { margin: 4px 0; line-height: 1.7; }
.nr-summary .nr-date { font-weight: 600; margin-right: 6px; }
.nr-issue { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.nr-bpage { flex: 1 1 360px; max-width: 520px; border: 1px solid #d1d5db; border-radius: 8px; padding: 8px 10px; background: #ffffff; color: #111827; }
.nr-bpage .nr-page { margin: 6px 0; border: 1px solid #e5e7eb; overflow: hidden; }
.nr-bpage .nr-region { outline: 2px solid #dc2626; background: rgba(220, 38, 38, 0.06); }
.nr-region-no { position: absolute; left: 0; top: 0; background: #dc2626; color: #ffffff; font-size: 11px; line-height: 1; padding: 2px 4px; }
.nr-heads { margin: 4px 0 0 1.4em; padding: 0; }
.nr-heads li { margin: 2px 0; }
"""

# inline and !important: Gradio's own styles fit every image to its box
_PAGE_IMG = ("position:absolute !important;left:0;top:0;width:100% !important;max-width:none !important;"
             "max-height:none !important;height:auto !important;margin:0 !important;")


def period_label(start: str, end: str, by: str) -> str:
    """A period as the chart and the table show it: ``2023-07-30``, ``2023-07-24～07-30`` or
    ``2023-07``; ISO first, so the labels sort in time order."""
    if by == "month":
        return start[:7]
    if by == "week":
        return f"{start}～{end[5:]}"
    return start


def headline_of(a: ArticleEntry) -> str:
    return a.headline or a.title or "（无标题）"


def render_timeline_head(tl: Timeline, image_url: ImageUrl = None) -> str:
    """The count (共 N 篇，日期不详 M 篇), a note when nothing can be placed on a date, and
    the first and last mention as cited cards."""
    q = escape(tl.query)
    if tl.total == 0:
        return f'<p class="nr-tl-status">没有找到同时含有“{q}”各个词的文章。</p>'
    parts = [f'<p class="nr-tl-status">“{q}”：共 <b>{tl.total}</b> 篇，日期不详 <b>{tl.undated}</b> 篇。</p>']
    if not tl.periods:
        if tl.undated == tl.total:
            why = f"这 {tl.total} 篇文章都没有注明出版日期，无法按时间排列，所以没有图表和最早、最近的报道。"
        else:
            why = "所选时间段内没有注明日期的报道，所以没有图表。"
        parts.append(f'<div class="nr-tl-note" role="status">{why}点击下表「{UNDATED}」一行查看日期不详的文章。</div>')
        return "".join(parts)
    ends = []
    if tl.first is not None and tl.last is not None and tl.first.article_id == tl.last.article_id:
        ends.append(render_sources([tl.first], "tl-first", image_url, head="最早也是最近一次提及"))
    else:
        if tl.first is not None:
            ends.append(render_sources([tl.first], "tl-first", image_url, head="最早提及"))
        if tl.last is not None:
            ends.append(render_sources([tl.last], "tl-last", image_url, head="最近一次提及"))
    parts.append(f'<div class="nr-tl-ends">{"".join(ends)}</div>')
    return "".join(parts)


def render_summary(lines: Sequence[SummaryLine], aid: str, image_url: ImageUrl = None) -> str:
    """The dated account: one line per period that matters, each with its [n] linked to its card below."""
    if not lines:
        return '<p class="nr-tl-status">没有可以按日期排列的报道，无法生成经过。</p>'
    items = "".join(
        f'<li><span class="nr-date">{escape(s.citation.date.label_zh())}</span>{escape(s.text)}'
        f'<a class="nr-cite" href="#nr-{aid}-{s.citation.n}" title="来源{s.citation.n}">[{s.citation.n}]</a></li>'
        for s in lines)
    return (f'<div class="nr-card-head">经过（每句摘自所注来源的原文）</div><ol class="nr-summary">{items}</ol>'
            + render_sources([s.citation for s in lines], aid, image_url))


def render_issue_pages(pages: Sequence[PageEntry], articles: Sequence[ArticleEntry], image_url: ImageUrl = None) -> str:
    """Each page of an issue: its image with every article's region outlined and numbered
    (pages kept as images), then its headlines in reading order, numbered the same way."""
    by_page: dict[str, list[ArticleEntry]] = {}
    for a in articles:
        by_page.setdefault(a.page_key, []).append(a)
    out = []
    for p in pages:
        arts = by_page.get(p.page_key, [])
        head = f"第{p.page}版" if p.page else "版次不详"
        url = image_url(p.image) if p.image and image_url is not None else None
        picture = _page_picture(p, arts, url) if url and p.size and p.size[0] and p.size[1] else ""
        heads = "".join(f"<li>{escape(headline_of(a))}</li>" for a in arts) or "<li>（这一版没有文章）</li>"
        out.append(f'<section class="nr-bpage" data-page="{escape(str(p.page or ""), quote=True)}">'
                   f'<div class="nr-card-title">{head} · {len(arts)} 篇</div>{picture}'
                   f'<ol class="nr-heads">{heads}</ol></section>')
    return f'<div class="nr-issue">{"".join(out)}</div>' if out else "<p>这一期没有版面。</p>"


def _page_picture(p: PageEntry, arts: Sequence[ArticleEntry], url: str) -> str:
    pw, ph = p.size  # type: ignore[misc]
    boxes = []
    for k, a in enumerate(arts, 1):
        if a.region is None:
            continue
        x0, y0, x1, y1 = a.region
        boxes.append(f'<div class="nr-region" title="{escape(headline_of(a), quote=True)}" style="left:{100 * x0 / pw:.2f}%;'
                     f'top:{100 * y0 / ph:.2f}%;width:{100 * (x1 - x0) / pw:.2f}%;height:{100 * (y1 - y0) / ph:.2f}%">'
                     f'<span class="nr-region-no">{k}</span></div>')
    return (f'<div class="nr-page" style="padding-top:{100 * ph / pw:.2f}%">'
            f'<img src="{escape(url, quote=True)}" alt="第{p.page or ""}版版面" style="{_PAGE_IMG}">{"".join(boxes)}</div>')

