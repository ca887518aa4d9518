"""Frozen records that flow one way: Page -> Article -> Chunk -> (store) -> Hit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["PAGE_KEY", "FILE_KEY", "DOC_KEY", "PageKey", "issue_of", "Box", "Place", "IssueDate", "Line", "Page", "Article", "Chunk", "Hit", "Citation", "Answer", "Prompt", "IssueSummary", "join_windows", "union_box", "embed_text"]


# What the chunks of one ingested unit share (``page_key``), by kind of input: a page file of
# an issue is ``page:<paper>/<issue>/<page>``; a page file outside any issue folder is
# ``file:<absolute path>[#n]``; a JSONL article, which has no page file, is ``doc:<article id>``.
# Re-ingest replaces and deletion removes by this key. ``PageKey`` builds and parses them all.
PAGE_KEY = "page:"
FILE_KEY = "file:"
DOC_KEY = "doc:"


@dataclass(frozen=True)
class PageKey:
    """The identity of one ingested unit (a page of an issue, a loose page file, a JSONL
    article), and the one place its string form is built or parsed.

    ``kind`` is ``page``, ``file`` or ``doc``. For ``page``: ``paper``, ``issue`` (the issue's
    name) and ``page`` (its number, or the file name when it has none, with ``#n`` for the n-th
    page of a multi-page file). For ``file``: ``page`` holds the file's path (and ``#n``). For
    ``doc``: ``page`` holds the article id. Any other string parses as kind ``""`` and prints
    back unchanged.
    """

    kind: str
    page: str
    paper: str = ""
    issue: str = ""

    @classmethod
    def of_page(cls, paper: str, issue: str, page: int | str) -> PageKey:
        return cls("page", str(page), paper, issue)

    @classmethod
    def of_file(cls, path: str, index: int | None = None) -> PageKey:
        return cls("file", f"{path}#{index}" if index else str(path))

    @classmethod
    def of_doc(cls, article_id: str) -> PageKey:
        return cls("doc", article_id)

    @classmethod
    def parse(cls, key: str) -> PageKey:
        if key.startswith(PAGE_KEY):
            parts = key[len(PAGE_KEY):].rsplit("/", 2)
            if len(parts) == 3:
                return cls("page", parts[2], parts[0], parts[1])
        elif key.startswith(FILE_KEY):
            return cls("file", key[len(FILE_KEY):])
        elif key.startswith(DOC_KEY):
            return cls("doc", key[len(DOC_KEY):])
        return cls("", key)

    def __str__(self) -> str:
        if self.kind == "page":
            return f"{PAGE_KEY}{self.paper}/{self.issue}/{self.page}"
        return {"file": FILE_KEY, "doc": DOC_KEY}.get(self.kind, "") + self.page

    @property
    def number(self) -> int | None:
        """The page number of a page of an issue, when its key carries one."""
        return int(self.page) if self.kind == "page" and self.page.isdigit() else None

    @property
    def issue_prefix(self) -> str:
        """``page:<paper>/<issue>`` for a page of an issue (what its pages share); "" otherwise."""
        return f"{PAGE_KEY}{self.paper}/{self.issue}" if self.kind == "page" else ""

    def sibling(self, page: int) -> PageKey:
        """The key of page ``page`` of the same issue (only for pages of an issue)."""
        return PageKey("page", str(page), self.paper, self.issue)

    def issue_key(self, paper: str = "", date: IssueDate | None = None) -> str:
        """The key of the issue this unit belongs to: ``page:<paper>/<issue>`` for a page of an
        issue; ``doc:<paper>/<date>`` for JSONL articles (grouped by paper and date, or its
        earliest bound, or 日期不详); the key itself for a loose page file."""
        if self.kind == "page":
            return self.issue_prefix
        if self.kind == "doc":
            d = date or IssueDate()
            return f"{DOC_KEY}{paper}/{d.iso or d.not_before or d.label_zh()}"
        return str(self)


def issue_of(page_key: str) -> str:
    """The issue name inside a page file's key (``page:<paper>/<issue>/<page>``); "" for other keys."""
    return PageKey.parse(page_key).issue


@dataclass(frozen=True)
class IssueDate:
    """An issue date that may be unknown.

    ``iso`` is ``YYYY-MM-DD`` when the day is known. When it is not, ``iso`` is
    empty and ``not_before`` / ``not_after`` may carry the earliest and latest
    possible days, so nothing downstream ever has to invent a date.
    """

    iso: str = ""
    not_before: str = ""
    not_after: str = ""

    @property
    def known(self) -> bool:
        return bool(self.iso)

    def label_zh(self, issue: str = "") -> str:
        """Human label in Chinese, e.g. ``2023年12月1日`` or ``日期不详（不早于2023年12月1日）``;
        an undated issue's name follows when given (``日期不详 · 期次 第1234期``), since it is
        what tells two undated issues of one paper apart."""
        if issue and not self.iso:
            return f"{self.label_zh()} · 期次 {issue}"
        if self.iso:
            return _zh_day(self.iso)
        bounds = [f"不早于{_zh_day(self.not_before)}" if self.not_before else "",
                  f"不晚于{_zh_day(self.not_after)}" if self.not_after else ""]
        known = "，".join(b for b in bounds if b)
        return f"日期不详（{known}）" if known else "日期不详"


def _zh_day(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{int(y)}年{int(m)}月{int(d)}日"


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in page units, origin top left


@dataclass(frozen=True)
class Place:
    """Where a piece of text stands on its page image (PDF and scanned pages only).

    Page units are PDF points or scan pixels; ``size`` is the page's size in them, so the
    image (any resolution) maps by ratio. ``lines`` are (start, end, box) of the printed
    lines by character offsets into the text the place belongs to; ``box`` is their union
    and ``region`` the whole article's on this page (headline included).
    """

    image: str = ""  # reference of the page image under NEWSRAG_HOME, "" when none was kept
    size: tuple[float, float] = (0.0, 0.0)
    region: Box | None = None
    box: Box | None = None
    lines: tuple[tuple[int, int, Box], ...] = ()

    def boxes_of(self, start: int, end: int) -> list[Box]:
        """The boxes of the printed lines holding characters ``start`` to ``end``."""
        return [b for s, e, b in self.lines if s < end and e > start]


@dataclass(frozen=True)
class Line:
    """One line of page text.

    ``block`` numbers the text block (column piece) the line sits in: in plain
    text a blank line starts a new block. A PDF reader fills ``font_size`` and
    ``bbox`` too, which segmentation uses when present.
    """

    text: str
    block: int
    font_size: float | None = None
    bbox: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Page:
    """One newspaper page as read from a file, before segmentation."""

    paper: str
    date: IssueDate
    page: int | None
    source: str  # file path as given to ingest, for messages and provenance
    key: str  # stable identity of the page: re-ingesting the same key replaces it
    lines: tuple[Line, ...]
    # keys this page was stored under by earlier versions (its chunks there, from the same
    # source, are replaced by this page's)
    supersedes: tuple[str, ...] = ()
    image: str = ""  # the page image kept for citations (PDF and scanned pages)
    size: tuple[float, float] | None = None  # page size in the units of the lines' boxes


@dataclass(frozen=True)
class Article:
    """One article: headline parts, byline, body text and continuation."""

    article_id: str
    source_id: str
    paper: str
    date: IssueDate
    page: int | None
    title: str
    text: str
    kicker: str = ""
    subtitle: str = ""
    byline: str = ""
    continues_on_page: int | None = None
    continued_from_page: int | None = None
    page_key: str = ""
    source: str = ""
    place: Place | None = None  # boxes of its lines, for PDF and scanned pages
    # a segment of a story continued across pages: the story (its first segment's id),
    # and this segment's own id before it was linked
    story_id: str = ""
    segment_id: str = ""
    jump_head: str = ""  # a linked segment's own headline on its page ("网格员技能大比武")

    @property
    def headline(self) -> str:
        """Everything printed above the body, in reading order."""
        return " ".join(p for p in (self.kicker, self.title, self.subtitle) if p)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("place", "story_id", "segment_id", "jump_head"):  # only when there is one: text pages print as before
            if not d[k]:
                del d[k]
        if self.place is not None:
            d["place"] = {"image": self.place.image, "size": list(self.place.size),
                          "region": list(self.place.region) if self.place.region else None}
        d["date"] = self.date.iso or None
        d["date_not_before"] = self.date.not_before or None
        if self.date.not_after:
            d["date_not_after"] = self.date.not_after
        d["date_label"] = self.date.label_zh()
        d["headline"] = self.headline
        return d


@dataclass(frozen=True)
class Chunk:
    """A retrievable window of one article.

    ``text`` is the article text of the window; ``embed_text`` is what the
    embedder sees (headline + text) so a chunk is findable by its subject.
    """

    chunk_id: str
    article_id: str
    source_id: str
    page_key: str
    index: int
    text: str
    embed_text: str
    title: str
    paper: str
    date: IssueDate
    page: int | None
    byline: str = ""
    continues_on_page: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Hit:
    """A chunk returned by a search, with its score (higher is better)."""

    chunk_id: str
    article_id: str
    source_id: str
    title: str
    paper: str
    date: IssueDate
    page: int | None
    text: str
    score: float
    byline: str = ""
    continues_on_page: int | None = None
    headline: str = ""
    chunk_index: int = 0
    page_key: str = ""
    relevance: float | None = None  # cosine similarity from the dense leg, when it found this chunk
    source: str = ""  # the page's source file name (or a JSONL article's id)
    place: Place | None = None
    story_id: str = ""
    continued_from_page: int | None = None
    segment_id: str = ""
    jump_head: str = ""

    @property
    def issue(self) -> str:
        """The name of the issue this chunk's page belongs to ("" for JSONL articles)."""
        return issue_of(self.page_key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, as printed by `newsrag search --json` and put on LangChain Documents."""
        return {
            "chunk_id": self.chunk_id,
            "article_id": self.article_id,
            "source_id": self.source_id,
            "title": self.title,
            "headline": self.headline,
            "paper": self.paper,
            "date": self.date.iso or None,
            "date_label": self.date.label_zh(),
            "page": self.page,
            "issue": self.issue,
            "byline": self.byline,
            "continues_on_page": self.continues_on_page,
            "text": self.text,
            "score": round(self.score, 6),
            **_place_json(self.place),
        }


@dataclass(frozen=True)
class Citation:
    """Where one claim of an answer comes from. ``n`` numbers sources from 1."""

    n: int
    paper: str
    date: IssueDate
    page: int | None
    title: str
    article_id: str
    source_id: str
    quote: str  # the source sentence that supports the claim
    text: str = ""  # the whole retrieved passage, for showing the quote in context
    continues_on_page: int | None = None
    continuation_note: str = ""  # e.g. "下转2版：本库未收第2版"
    issue: str = ""  # the issue's name: what tells two undated issues of one paper apart
    place: Place | None = None  # the cited passage's page image; ``box`` is the quote's lines
    quote_boxes: tuple[Box, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "paper": self.paper,
            "date": self.date.iso or None,
            "date_label": self.date.label_zh(),
            "page": self.page,
            "issue": self.issue,
            "title": self.title,
            "article_id": self.article_id,
            "source_id": self.source_id,
            "quote": self.quote,
            "continues_on_page": self.continues_on_page,
            "continuation_note": self.continuation_note,
            **_place_json(self.place, self.quote_boxes),
        }


@dataclass(frozen=True)
class Answer:
    """An answer with its citations. ``supported`` is False when no claim could be
    tied to a source: such an answer is flagged, never presented as sourced."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    supported: bool = True
    standalone_question: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "refused": self.refused,
            "supported": self.supported,
            "citations": [c.to_dict() for c in self.citations],
            "standalone_question": self.standalone_question,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class Prompt:
    """What a chat model is asked: the chat ``messages``, and the same ``question`` and
    numbered ``sources`` (n, text shown) as data, for backends that read no prompt."""

    messages: tuple[dict[str, str], ...]
    question: str = ""
    sources: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class IssueSummary:
    """One issue (or one ungrouped file or batch of documents) as the archive holds it.

    ``key`` identifies it (``PageKey.issue_key``): ``page:<paper>/<issue>`` for pages read
    with a manifest, ``file:<path>`` for a page file without one, ``doc:<paper>/<date>`` for
    ready-made JSONL articles grouped by paper and date. ``issue`` is the issue's name.
    """

    key: str
    paper: str
    date: IssueDate
    pages: tuple[int, ...]
    articles: int
    chunks: int
    issue: str = ""

    @property
    def kind(self) -> str:
        """``page`` (an issue of page files), ``file`` (a loose page file) or ``doc`` (JSONL articles)."""
        for kind, prefix in (("page", PAGE_KEY), ("file", FILE_KEY), ("doc", DOC_KEY)):
            if self.key.startswith(prefix):
                return kind
        return ""

    def label_zh(self) -> str:
        pages = "、".join(f"第{p}版" for p in self.pages) or "版次不详"
        return f"{self.paper or '报名不详'} {self.date.label_zh(self.issue)} {pages}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "paper": self.paper,
            "issue": self.issue,
            "date": self.date.iso or None,
            "date_not_before": self.date.not_before or None,
            "date_not_after": self.date.not_after or None,
            "date_label": self.date.label_zh(self.issue),
            "pages": list(self.pages),
            "articles": self.articles,
            "chunks": self.chunks,
        }


def _place_json(place: Place | None, quote_boxes: tuple[Box, ...] = ()) -> dict[str, Any]:
    """``bbox`` (page coordinates) and the page image's reference, when the page has them."""
    if place is None:
        return {}
    box = union_box(quote_boxes) if quote_boxes else place.box
    return {
        "bbox": [round(v, 1) for v in box] if box else None,
        "region": [round(v, 1) for v in place.region] if place.region else None,
        "page_image": place.image or None,
        "page_size": [round(v, 1) for v in place.size],
    }


def union_box(boxes) -> Box:
    """The smallest box holding all of ``boxes`` (at least one)."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def embed_text(headline: str, text: str) -> str:
    """What the embedder, the keyword index and a reranker read of a chunk: its article's
    headline, then the chunk's text (so a chunk is found by its subject)."""
    return f"{headline}\n{text}" if headline else text


def join_windows(texts: list[str]) -> str:
    """Rebuild an article from its overlapping chunk windows (in order): each window
    repeats the end of the one before it, so the repeated part is dropped."""
    out = ""
    for t in texts:
        k = min(len(out), len(t))
        while k > 0 and not out.endswith(t[:k]):
            k -= 1
        out += t[k:]
    return out
