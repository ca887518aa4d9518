"""HTML for the chat app: answers with [n] links, source cards, search results.

Pure functions, no Gradio, so they are tested directly. Every piece of corpus or
model text goes through ``html.escape`` before any markup is added around it:
a page holding ``<script>`` shows as text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from html import escape

from rag.records import Answer, Citation, Hit, Place
from rag.text import normalize, tokenize

__all__ = [
    "REFUSAL_NOTICE",
    "UNSUPPORTED_NOTICE",
    "answer_id",
    "render_answer",
    "render_sources",
    "render_article",
    "render_page_crop",
    "highlight_terms",
    "snippet",
    "where_label",
    "CSS",
]

REFUSAL_NOTICE = "未在档案中找到答案：以下回复不是事实陈述。"
UNSUPPORTED_NOTICE = "此回答没有找到可核对的出处，请谨慎使用。"

CSS = """
.nr-cite { font-weight: 600; text-decoration: none; padding: 0 1px; }
.nr-notice { border-left: 4px solid #d97706; background: #fef3c7; color: #78350f; padding: 6px 10px; margin: 4px 0 8px; border-radius: 4px; }
.nr-sources { display: flex; flex-direction: column; gap: 8px; margin-top: 8px; }
.nr-card { border: 1px solid #d1d5db; border-radius: 8px; padding: 8px 10px; background: #ffffff; color: #111827; }
.nr-card-head { font-size: 0.9em; color: #374151; }
.nr-card-title { font-weight: 600; margin: 2px 0 4px; }
.nr-card-text { font-size: 0.92em; line-height: 1.6; }
.nr-card mark, .nr-hit mark { background: #fde68a; color: inherit; padding: 0 1px; }
.nr-cont { font-size: 0.85em; color: #b45309; margin-top: 4px; }
.nr-article { line-height: 1.8; white-space: pre-wrap; }
.nr-crop { position: relative; overflow: hidden; border: 1px solid #d1d5db; margin: 4px 0; max-width: 100%; }
.nr-crop img, .nr-page img { position: absolute; max-width: none; }
.nr-hl { position: absolute; background: rgba(250, 204, 21, 0.35); outline: 2px solid #ca8a04; }
.nr-page { position: relative; width: 100%; }
.nr-region { position: absolute; outline: 3px solid #dc2626; }
@media (max-width: 640px) { .nr-card-text { font-size: 0.88em; } }
"""


def answer_id(answer: Answer) -> str:
    """A short stable id for one answer (links inside it, feedback lines)."""
    raw = f"{answer.question}\x1f{answer.text}\x1f{len(answer.citations)}"
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:10]


def where_label(paper: str, date_label: str, page: int | None) -> str:
    return f"{paper or '报名不详'} · {date_label} · {f'第{page}版' if page else '版次不详'}"


_MARKER = re.compile(r"\[(\d{1,3})\]")


def render_answer(answer: Answer, image_url: Callable[[str], str | None] | None = None) -> str:
    """The answer text, escaped, with each valid [n] turned into a link to its card,
    followed by a notice when it is a refusal or unsupported, and the source cards.
    ``image_url`` maps a page image reference to the URL it is served at (PDF and
    scanned pages' cards then show the page cropped to the article)."""
    aid = answer_id(answer)
    valid = {c.n for c in answer.citations}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in valid:
            return ""  # markers were already checked; anything left unmatched is dropped
        return f'<a class="nr-cite" href="#nr-{aid}-{n}" title="来源{n}">[{n}]</a>'

    body = _MARKER.sub(link, escape(answer.text))
    parts = []
    if answer.refused:
        parts.append(f'<div class="nr-notice" role="status">{REFUSAL_NOTICE}</div>')
    elif not answer.supported:
        parts.append(f'<div class="nr-notice" role="status">⚠ {UNSUPPORTED_NOTICE}</div>')
    parts.append(f"<div>{body}</div>")
    if answer.citations:
        parts.append(render_sources(answer.citations, aid, image_url))
    return "\n".join(parts)


CARD_WIDTH = 440  # pixels across a source card's page crop
# inline and !important: the chat's own stylesheet fits every image to its message
_IMG = "position:absolute !important;max-width:none !important;max-height:none !important;height:auto !important;margin:0 !important;"


def render_page_crop(place: Place, quote_boxes, url: str, width: int = CARD_WIDTH) -> str:
    """The page image cropped to the article around the quote, the quote's lines
    highlighted; a <details> below opens the whole page with the article outlined."""
    pw, ph = place.size
    region = place.region or place.box
    if not (pw and ph and region):
        return ""
    focus = place.box or region
    x0, x1 = region[0], region[2]
    line = (focus[3] - focus[1]) if focus else 0
    y0 = max(region[1], focus[1] - 3 * line)
    y1 = min(region[3], max(focus[3] + 4 * line, y0 + (x1 - x0) * 0.35))
    scale = width / max(x1 - x0, 1)
    height = max(int((y1 - y0) * scale), 24)
    marks = "".join(
        f'<div class="nr-hl" style="left:{(b[0] - x0) * scale:.0f}px;top:{(b[1] - y0) * scale:.0f}px;'
        f'width:{(b[2] - b[0]) * scale:.0f}px;height:{(b[3] - b[1]) * scale:.0f}px"></div>' for b in quote_boxes)
    src = escape(url, quote=True)
    crop = (f'<div class="nr-crop" style="width:{width}px;height:{height}px">'
            f'<img src="{src}" alt="版面" style="{_IMG}left:{-x0 * scale:.0f}px;top:{-y0 * scale:.0f}px;width:{pw * scale:.0f}px !important">'
            f"{marks}</div>")
    pct = [100 * region[0] / pw, 100 * region[1] / ph, 100 * (region[2] - region[0]) / pw, 100 * (region[3] - region[1]) / ph]
    whole = (f'<details class="nr-whole"><summary>查看整版</summary><div class="nr-page" style="padding-top:{100 * ph / pw:.2f}%">'
             f'<img src="{src}" alt="整版" style="{_IMG}left:0;top:0;width:100% !important">'
             f'<div class="nr-region" style="left:{pct[0]:.2f}%;top:{pct[1]:.2f}%;width:{pct[2]:.2f}%;height:{pct[3]:.2f}%"></div>'
             f"</div></details>")
    return crop + whole


def render_sources(citations: tuple[Citation, ...] | list[Citation], aid: str = "",
                   image_url: Callable[[str], str | None] | None = None, head: str = "来源") -> str:
    """Source cards under ``head``: where (paper, date or 日期不详, 第N版), headline, the quoted
    sentence highlighted inside its paragraph, and the continuation note."""
    seen: set[int] = set()
    cards = []
    for c in citations:
        if c.n in seen:
            continue
        seen.add(c.n)
        paragraph = _paragraph_around(c.text or c.quote, c.quote)
        text = _mark_quote(paragraph, c.quote)
        cont = ""
        if c.continues_on_page or c.continuation_note:
            cont = f'<div class="nr-cont">{escape(c.continuation_note or f"下转{c.continues_on_page}版")}</div>'
        crop = ""
        if c.place is not None and c.place.image and image_url is not None and (url := image_url(c.place.image)):
            crop = render_page_crop(c.place, c.quote_boxes, url)
        cards.append(
            f'<div class="nr-card" id="nr-{aid}-{c.n}">'
            f'<div class="nr-card-head">[{c.n}] {escape(where_label(c.paper, c.date.label_zh(c.issue), c.page))}</div>'
            f'<div class="nr-card-title">{escape(c.title or "（无标题）")}</div>'
            f'{crop}<div class="nr-card-text">{text}</div>{cont}</div>'
        )
    return f'<div class="nr-sources"><div class="nr-card-head">{escape(head)}</div>{"".join(cards)}</div>'


_SENTENCE = re.compile(r"[^。！？!?]+[。！？!?]*")


def _paragraph_around(text: str, quote: str, short: int = 240) -> str:
    """A short passage is shown whole; a long one as the quote with one sentence either side."""
    i = text.find(quote) if quote else -1
    if i < 0 or len(text) <= short:
        return text
    spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    inside = [k for k, (a, b) in enumerate(spans) if b > i and a < i + len(quote)]
    if not inside:
        return text
    lo, hi = spans[max(inside[0] - 1, 0)][0], spans[min(inside[-1] + 1, len(spans) - 1)][1]
    return ("…" if lo > 0 else "") + text[lo:hi] + ("…" if hi < len(text) else "")


def _mark_quote(paragraph: str, quote: str) -> str:
    i = paragraph.find(quote) if quote else -1
    if i < 0:
        return escape(paragraph)
    return escape(paragraph[:i]) + f"<mark>{escape(quote)}</mark>" + escape(paragraph[i + len(quote):])


def highlight_terms(text: str, query: str) -> str:
    """Escape ``text`` and mark the query's words (jieba tokens of two or more
    characters, and numbers) where they occur, matching traditional and full-width
    forms of the text as well."""
    terms = sorted({t for t in tokenize(query, bigrams=False) if len(t) >= 2 or t.isdigit()}, key=len, reverse=True)
    if not terms:
        return escape(text)
    folded = _fold(text)
    spans: list[tuple[int, int]] = []
    for t in terms:
        start = 0
        while (j := folded.find(t, start)) >= 0:
            spans.append((j, j + len(t)))
            start = j + len(t)
    spans = _merge(spans)
    out, pos = [], 0
    for a, b in spans:
        out.append(escape(text[pos:a]))
        out.append(f"<mark>{escape(text[a:b])}</mark>")
        pos = b
    out.append(escape(text[pos:]))
    return "".join(out)


def _fold(text: str) -> str:
    """``normalize`` character by character, so offsets still line up with ``text``."""
    out = []
    for ch in text:
        n = normalize(ch)
        out.append(n if len(n) == 1 else ch.lower())
    return "".join(out)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def snippet(text: str, query: str, width: int = 90) -> str:
    """A window of ``text`` around the first query word, highlighted and escaped."""
    terms = [t for t in tokenize(query, bigrams=False) if len(t) >= 2]
    folded = _fold(text)
    first = min((j for t in terms if (j := folded.find(t)) >= 0), default=0)
    start = max(0, first - width // 3)
    part = text[start:start + width]
    return ("…" if start else "") + highlight_terms(part, query) + ("…" if start + width < len(text) else "")


def render_article(hit: Hit, text: str, query: str = "") -> str:
    """A whole article (or one page's segment of a continued story): where it was printed,
    headline, byline, and its text."""
    notes = ([f"上接{hit.continued_from_page}版"] if hit.continued_from_page else []) + \
        ([f"下转{hit.continues_on_page}版"] if hit.continues_on_page else [])
    cont = f'<div class="nr-cont">{"；".join(notes)}</div>' if notes else ""
    byline = f'<div class="nr-card-head">{escape(hit.byline)}</div>' if hit.byline else ""
    return (
        f'<div class="nr-card"><div class="nr-card-head">{escape(where_label(hit.paper, hit.date.label_zh(hit.issue), hit.page))}</div>'
        f'<div class="nr-card-title">{escape(hit.title or hit.headline or "（无标题）")}</div>{byline}'
        f'<div class="nr-article">{highlight_terms(text, query) if query else escape(text)}</div>{cont}</div>'
    )
