"""Exploring the archive across issues: a topic's timeline, its first and last mention, the
people, organisations and places of the archive or of a topic, and related coverage.

Every entry is a citation of a real article (date, paper, page, headline, the sentence that
matches), as ``newsrag ask --json`` prints them. Matching is exact and complete, not a top k:
an article is in a topic's timeline when its headline or text holds every word of the query
(涿州 finds 涿州市 too), found through the keyword index's postings and checked against the
text where the postings alone cannot prove it. Dates come from the catalogue; an article of
unknown date is counted apart and never placed on a date.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from rag.archive import Archive
from rag.catalogue import ArticleEntry, EntityCount
from rag.errors import InputError
from rag.filters import SearchFilters
from rag.records import Citation, Hit, PageKey, embed_text
from rag.text import normalize, split_sentences

__all__ = [
    "Match",
    "Period",
    "SummaryLine",
    "Timeline",
    "PERIODS",
    "find_articles",
    "timeline",
    "entities",
    "related",
    "cite",
    "cite_matches",
    "plot_timeline",
]

PERIODS = ("day", "week", "month")
MAX_QUERY_WORDS = 8


@dataclass(frozen=True)
class Match:
    """An article holding every word of a query, with how strongly (for ranking only)."""

    article: ArticleEntry
    score: float
    chunk_id: str  # its window holding the most of the query: where the quote comes from

    @property
    def day(self) -> str:
        return self.article.date.iso


@dataclass(frozen=True)
class Period:
    """One day, week (Monday to Sunday) or month of a timeline."""

    start: str
    end: str
    articles: int
    top: tuple[Citation, ...] = ()

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "articles": self.articles, "top": [c.to_dict() for c in self.top]}


@dataclass(frozen=True)
class SummaryLine:
    """One dated, cited statement of a topic's account: drawn from one article of its period."""

    date: str
    text: str
    citation: Citation

    def to_dict(self) -> dict:
        return {"date": self.date, "text": self.text, "n": self.citation.n}


@dataclass(frozen=True)
class Timeline:
    """A topic over time: every matching article counted per period, the best few cited."""

    query: str
    by: str
    date_from: str | None
    date_to: str | None
    paper: str | None
    total: int  # matching articles, dated and undated
    undated: int
    first: Citation | None
    last: Citation | None
    periods: tuple[Period, ...]
    summary: tuple[SummaryLine, ...] = ()
    matches: tuple[Match, ...] = field(default=(), repr=False, compare=False)  # the dated ones, best first
    undated_matches: tuple[Match, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict:
        d = {
            "query": self.query,
            "by": self.by,
            "from": self.date_from,
            "to": self.date_to,
            "paper": self.paper,
            "total": self.total,
            "undated": self.undated,
            "first": self.first.to_dict() if self.first else None,
            "last": self.last.to_dict() if self.last else None,
            "periods": [p.to_dict() for p in self.periods],
        }
        if self.summary:
            d["summary"] = [s.to_dict() for s in self.summary]
        return d

    def period_of(self, day: str) -> Period | None:
        return next((p for p in self.periods if p.start <= day <= p.end), None)


def query_words(query: str) -> list[str]:
    """The words of a reporter's query: split at spaces and commas, each kept whole.

    Raises:
        InputError: nothing to look for, or too many words.
    """
    words = [w for w in re.split(r"[\s,，、;；]+", (query or "").strip()) if w]
    words = list(dict.fromkeys(words))
    if not words:
        raise InputError("the query is empty: type a name, a place or an event", zh="检索词是空的：请输入人名、地名或事件")
    if len(words) > MAX_QUERY_WORDS:
        raise InputError(f"at most {MAX_QUERY_WORDS} words, got {len(words)}", zh=f"检索词最多 {MAX_QUERY_WORDS} 个，现在有 {len(words)} 个")
    return words


def find_articles(archive: Archive, query: str, filters: SearchFilters | None = None) -> list[Match]:
    """Every article whose headline or text holds every word of ``query`` (all of them, not
    a top k), passing ``filters``; best first.

    Raises:
        InputError: the query is empty or too long.
    """
    words = query_words(query)
    per_word: list[dict[str, dict[str, int]]] = []  # word -> article -> {chunk: occurrences}
    for w in words:
        found, exact = archive.keyword.containing(w)
        if not exact and found:
            needle = normalize(w)
            ids = list(found)
            held = set()
            for i in range(0, len(ids), 500):
                held |= {h.chunk_id for h in archive.store.get(ids[i : i + 500])
                         if needle in normalize(embed_text(h.headline, h.text))}
            found = {c: n for c, n in found.items() if c in held}
        by_article: dict[str, dict[str, int]] = {}
        for cid, aid in archive.catalogue.articles_of_chunks(found).items():
            by_article.setdefault(aid, {})[cid] = found[cid]
        per_word.append(by_article)
        if not by_article:
            return []
    common = set(per_word[0]).intersection(*per_word[1:])
    entries = {a.article_id: a for a in archive.catalogue.articles(article_ids=sorted(common))}
    needles = [normalize(w) for w in words]
    out = []
    for aid, entry in entries.items():
        if filters is not None and not filters.admits(entry.paper, entry.page, _day_int(entry.date.iso)):
            continue
        chunks: dict[str, int] = {}
        for found in per_word:
            for cid, n in found[aid].items():
                chunks[cid] = chunks.get(cid, 0) + n
        mentions = sum(min(sum(found[aid].values()), 5) for found in per_word) / (5 * len(words))
        head = unicodedata.normalize("NFKC", entry.headline).lower()  # ranking only: no t2s, which is slow
        in_headline = all(w in head for w in needles)
        best = max(chunks, key=lambda c: (chunks[c], c))
        out.append(Match(entry, 2.0 * in_headline + mentions, best))
    out.sort(key=lambda m: (-m.score, m.day or "9999", m.article.page or 99, m.article.article_id))
    return out


def _day_int(iso: str) -> int | None:
    return int(iso.replace("-", "")) if iso else None


def _period(day: date, by: str) -> tuple[date, date]:
    if by == "day":
        return day, day
    if by == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    start = day.replace(day=1)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt - timedelta(days=1)


def _periods_between(lo: date, hi: date, by: str) -> list[tuple[date, date]]:
    out = []
    start, end = _period(lo, by)
    while start <= hi:
        out.append((start, end))
        start, end = _period(end + timedelta(days=1), by)
    return out


def _quote(text: str, words: Sequence[str]) -> str:
    """The sentence of ``text`` holding the most of ``words`` (the first such)."""
    needles = [normalize(w) for w in words]
    best, best_n = "", -1
    for s in split_sentences(text):
        n = sum(w in normalize(s) for w in needles)
        if n > best_n:
            best, best_n = s, n
    return best or text[:120]


def cite(n: int, hit: Hit, entry: ArticleEntry, quote: str) -> Citation:
    """A citation of an article as ``ask`` gives them: where it was printed, its headline and
    the quoted sentence (with the sentence's lines on the page image, for PDF and scans)."""
    place, boxes = hit.place, ()
    if place is not None:
        i = hit.text.find(quote)
        boxes = tuple(place.boxes_of(i, i + len(quote))) if i >= 0 else ()
        place = replace(place, lines=())
    return Citation(n=n, paper=entry.paper, date=entry.date, page=entry.page, title=entry.title or entry.headline,
                    article_id=entry.article_id, source_id=entry.source_id, quote=quote, text=hit.text,
                    continues_on_page=entry.continues_on_page, issue=PageKey.parse(entry.page_key).issue,
                    place=place, quote_boxes=boxes)


class _Citer:
    """Numbers the articles cited by one timeline from 1, each article once."""

    def __init__(self, archive: Archive, words: Sequence[str]) -> None:
        self.archive, self.words = archive, words
        self.given: dict[str, Citation] = {}
        self.hits: dict[str, Hit] = {}

    def fetch(self, matches: Sequence[Match]) -> None:
        """Read the quoted windows of the matches about to be cited, in one lookup."""
        wanted = list(dict.fromkeys(m.chunk_id for m in matches if m.chunk_id not in self.hits))
        self.hits.update((h.chunk_id, h) for h in self.archive.store.get(wanted))

    def __call__(self, m: Match) -> Citation:
        if m.article.article_id not in self.given:
            hit = self.hits.get(m.chunk_id) or next(iter(self.archive.store.get([m.chunk_id])), None)
            if hit is None:  # deleted meanwhile: its first stored window
                hit = self.archive.windows(m.article.article_id)[0]
            self.given[m.article.article_id] = cite(len(self.given) + 1, hit, m.article, _quote(hit.text, self.words))
        return self.given[m.article.article_id]


def cite_matches(archive: Archive, query: str, matches: Sequence[Match]) -> list[Citation]:
    """Citations of the given matches of ``query`` (a period's articles listed in full), numbered
    from 1 in their order, each quoting its sentence holding the most of the query.

    Raises:
        InputError: the query is empty or too long.
    """
    citer = _Citer(archive, query_words(query))
    return [citer(m) for m in matches]


def timeline(archive: Archive, query: str, *, date_from: str | None = None, date_to: str | None = None,
             by: str = "week", paper: str | None = None, top: int = 3, summary: bool = False,
             summary_lines: int = 8) -> Timeline:
    """A topic's timeline: every article holding the query, counted per ``by`` period between
    ``date_from`` and ``date_to`` (default: its first and last mention), the ``top`` best of each
    period cited, the first and last mention cited, and with ``summary`` a dated account (one
    extractive, cited line per period that matters, at most ``summary_lines``).

    Raises:
        InputError: an empty query, a bad date or period.
    """
    if by not in PERIODS:
        raise InputError(f"--by must be day, week or month, got {by!r}", zh=f"时间段应为 day、week 或 month（按日、周、月），{by!r} 不行")
    filters = SearchFilters(date_from or None, date_to or None, paper or None)
    words = query_words(query)
    every = find_articles(archive, query, SearchFilters(paper=paper or None))  # the undated too, counted apart
    undated = [m for m in every if not m.day]
    dated = [m for m in every if m.day and filters.admits(m.article.paper, m.article.page, _day_int(m.day))]
    citer = _Citer(archive, words)
    periods: list[Period] = []
    first = last = None
    if dated:
        days = sorted(m.day for m in dated)
        lo = date.fromisoformat(date_from) if date_from else date.fromisoformat(days[0])
        hi = date.fromisoformat(date_to) if date_to else date.fromisoformat(days[-1])
        by_period: dict[str, list[Match]] = {}
        for m in dated:
            start, _ = _period(date.fromisoformat(m.day), by)
            by_period.setdefault(start.isoformat(), []).append(m)
        first_day, last_day = days[0], days[-1]
        edges = [next(m for m in dated if m.day == first_day), next(m for m in dated if m.day == last_day)]
        citer.fetch([m for ms in by_period.values() for m in ms[:top]] + edges)
        for start, end in _periods_between(lo, hi, by):
            ms = by_period.get(start.isoformat(), [])  # already best first
            periods.append(Period(start.isoformat(), end.isoformat(), len(ms), tuple(citer(m) for m in ms[:top])))
        # the earliest (latest) dated match; on that day, the best of them
        first, last = citer(edges[0]), citer(edges[1])
    lines: tuple[SummaryLine, ...] = ()
    if summary and dated:
        lines = _summary(periods, dated, by, citer, summary_lines)
    return Timeline(query=" ".join(words), by=by, date_from=date_from or None, date_to=date_to or None,
                    paper=paper or None, total=len(dated) + len(undated), undated=len(undated), first=first,
                    last=last, periods=tuple(periods), summary=lines, matches=tuple(dated),
                    undated_matches=tuple(undated))


def _summary(periods: Sequence[Period], dated: Sequence[Match], by: str, citer: _Citer, n: int) -> tuple[SummaryLine, ...]:
    """One line per period that matters: the periods with articles, the busiest when there
    are more than ``n`` (the first and the last always), each line its best article's
    matching sentence, dated and cited. Extractive, so faithful by construction."""
    busy = [p for p in periods if p.articles]
    keep = {busy[0].start, busy[-1].start}
    for p in sorted(busy, key=lambda p: (-p.articles, p.start)):
        if len(keep) >= n:
            break
        keep.add(p.start)
    out = []
    for p in busy:
        if p.start not in keep:
            continue
        best = next(m for m in dated if p.start <= m.day <= p.end)
        c = citer(best)
        out.append(SummaryLine(best.day, _shorten(c.quote), c))
    return tuple(out)


def _shorten(sentence: str, limit: int = 90) -> str:
    """A long sentence cut at its last clause break before ``limit`` (the rest marked ……)."""
    if len(sentence) <= limit:
        return sentence
    cut = max(sentence.rfind(p, 0, limit) for p in "，；：、")
    return (sentence[: cut if cut > 20 else limit]).rstrip("，；：、") + "……"


def entities(archive: Archive, query: str | None = None, *, kind: str | None = None, date_from: str | None = None,
             date_to: str | None = None, paper: str | None = None, limit: int = 30) -> list[EntityCount]:
    """Who and what the archive (or a topic's articles, with ``query``) mentions most, with
    article counts and the first and last date.

    Raises:
        InputError: a bad type or date.
    """
    if kind not in (None, "person", "organization", "place"):
        raise InputError(f"--type must be person, organization or place, got {kind!r}",
                         zh=f"类型应为 person（人物）、organization（机构）或 place（地点），{kind!r} 不行")
    SearchFilters(date_from or None, date_to or None)  # checks the dates
    ids = [m.article.article_id for m in find_articles(archive, query)] if query else None
    return archive.catalogue.names(kind=kind, article_ids=ids, date_from=date_from or None, date_to=date_to or None,
                                   paper=paper or None, limit=limit)


def related(archive: Archive, article_id: str, k: int = 40, per_side: int = 5) -> tuple[list[ArticleEntry], list[ArticleEntry]]:
    """Coverage of the same event on other dates: the articles nearest this one (by the stored
    vectors of its windows) printed before it and after it, nearest first. The article's own
    story and issue are left out. Needs a dated article (else nothing)."""
    entry = archive.catalogue.article(article_id)
    if entry is None or not entry.date.iso:
        return [], []
    own = {a.article_id for a in archive.catalogue.story(article_id)}
    windows = archive.windows(article_id, with_text=False)[:3]
    vectors = archive.store.vectors([w.chunk_id for w in windows])
    score: dict[str, float] = {}
    for v in vectors.values():
        for h in archive.store.query(v, k):
            if h.article_id not in own and h.date.iso and h.date.iso != entry.date.iso:
                score[h.article_id] = max(score.get(h.article_id, -1.0), h.score)
    found = {a.article_id: a for a in archive.catalogue.articles(article_ids=list(score))}
    ranked = sorted(found.values(), key=lambda a: -score[a.article_id])
    earlier = [a for a in ranked if a.date.iso < entry.date.iso][:per_side]
    later = [a for a in ranked if a.date.iso > entry.date.iso][:per_side]
    return earlier, later


def plot_timeline(tl: Timeline, path) -> None:
    """Write the timeline's articles per period as a bar chart (PNG), labelled in Chinese
    where a CJK font is installed (Debian's fonts-noto-cjk)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    cjk = sorted({f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name})
    font = font_manager.FontProperties(family=cjk[0]) if cjk else None
    labels = {"day": "日", "week": "周", "month": "月"}
    fig, ax = plt.subplots(figsize=(max(6.0, min(16.0, 0.35 * len(tl.periods) + 3)), 3.6), dpi=120)
    xs = list(range(len(tl.periods)))
    ax.bar(xs, [p.articles for p in tl.periods], color="#3b6ea5")
    step = max(1, len(xs) // 12)
    ax.set_xticks(xs[::step], [p.start[5:] if tl.by != "month" else p.start[:7] for p in tl.periods][::step],
                  rotation=45, ha="right", fontsize=8)
    if font is not None:
        ax.set_title(f"“{tl.query}” 每{labels[tl.by]}报道篇数（共 {tl.total} 篇，日期不详 {tl.undated} 篇）",
                     fontproperties=font, fontsize=10)
        ax.set_ylabel("篇数", fontproperties=font)
    else:  # no CJK font installed: the query itself may not render, the rest is English
        ax.set_title(f"articles per {tl.by}: {tl.total} in all, {tl.undated} undated", fontsize=10)
        ax.set_ylabel("articles")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
