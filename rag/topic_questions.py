"""Questions about a topic over time, answered from the timeline and the catalogue's names.

「X最早是什么时候见报的」, 「X最近一次报道是哪天」, 「7月底到8月初关于X的报道有哪些」 and
「X事件中提到了哪些人」 ask about every article of a topic, not the six best chunks: they are
recognised by rules, their dates read by rules against the archive's own dates (a month
without a year is in the year of the archive's newest issue, or the year before when that
month is still to come), and answered from ``rag.explore`` with the same citations as any
answer. Every other question goes the usual way (``match`` returns None).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from rag.archive import Archive
from rag.explore import Match, cite, timeline
from rag.filters import SearchFilters
from rag.records import Answer, Citation
from rag.text import normalize, split_sentences

__all__ = ["TopicQuestion", "match", "answer", "parse_range"]

_WHEN = r"(?:什么时候|什么时间|哪天|哪一天|何时|哪日|几月几[日号]|哪个日子)"
_PRINTED = r"(?:见报|报道|刊登|刊发|登报|被报道|出现|提到|提及)"
_END = r"的?[？?。!！\s]*$"
_TOPIC = r"(?:关于|有关)?(?P<x>.{1,30}?)(?:的(?:报道|新闻|消息))?"
_FIRST = r"(?:最早|第一次|首次|头一次)"
_LAST = r"(?:最近一次|最后一次|最新一次|最近|最新|最后)"
_NAMES = {"人": "person", "人物": "person", "谁": "person", "机构": "organization", "单位": "organization",
          "部门": "organization", "地方": "place", "地点": "place", "地名": "place"}

_PATTERNS = [
    ("first", re.compile(rf"^{_TOPIC}(?:是)?{_FIRST}(?:是)?(?:在)?{_WHEN}{_PRINTED}?{_END}")),
    ("first", re.compile(rf"^{_TOPIC}{_FIRST}{_PRINTED}(?:是)?(?:在)?{_WHEN}{_END}")),
    ("first", re.compile(rf"^{_FIRST}{_PRINTED}{_TOPIC}(?:是)?(?:在)?{_WHEN}{_END}")),
    ("last", re.compile(rf"^{_TOPIC}(?:是)?{_LAST}(?:是)?(?:在)?{_WHEN}{_PRINTED}?{_END}")),
    ("last", re.compile(rf"^{_TOPIC}{_LAST}{_PRINTED}(?:是)?(?:在)?{_WHEN}{_END}")),
    ("last", re.compile(rf"^{_LAST}{_PRINTED}{_TOPIC}(?:是)?(?:在)?{_WHEN}{_END}")),
    ("names", re.compile(rf"^{_TOPIC}(?:事件|一事|这件事)?(?:中|里|当中|之中)(?:都|一共|共)?(?:提到|出现|涉及|提及)(?:了|过)?"
                         rf"(?:哪些|哪几个|哪几位|什么|几个|多少)(?P<kind>人物|人|机构|单位|部门|地方|地点|地名){_END}")),
    ("names", re.compile(rf"^{_TOPIC}(?:事件|一事)?(?:中|里)?(?:都)?有(?:哪些|哪几位|什么)(?P<kind>人物|人|机构|单位|地点|地方){_END}")),
    ("range", re.compile(rf"^(?P<range>.{{2,24}}?)(?:关于|有关)(?P<x>.{{1,30}}?)的(?:报道|新闻|文章|消息)"
                         rf"(?:有哪些|都有哪些|有什么|都有什么|有多少)?{_END}")),
]


@dataclass(frozen=True)
class TopicQuestion:
    """A recognised question: what it asks (``first``, ``last``, ``range``, ``names``), its topic,
    and the dates or kind of name it is about."""

    kind: str
    topic: str
    date_from: str | None = None
    date_to: str | None = None
    names: str = "person"  # for kind ``names``
    range_label: str = ""


_DAY = r"(?:(?P<y{n}>\d{{4}})年)?(?P<m{n}>\d{{1,2}})月(?:(?P<d{n}>\d{{1,2}})[日号]|(?P<p{n}>初|上旬|中旬|下旬|底|末|中))?"
_RANGE = re.compile(rf"^(?:从)?{_DAY.format(n=1)}(?:(?:到|至|~|-|—|–)(?:{_DAY.format(n=2)}|(?P<d3>\d{{1,2}})[日号]))?(?:期间|之间|以来)?$")


def parse_range(text: str, newest: date | None) -> tuple[str, str] | None:
    """「7月底到8月初」 (and 8月1日至5日, 2023年7月, 7月中旬 …) as ISO dates (from, to); None
    when it is not such a range. A year left out is that of ``newest`` (the archive's newest
    issue), or the year before when the month would come after ``newest``."""
    m = _RANGE.match(text.strip())
    if not m:
        return None

    def year(y: str | None, month: int) -> int:
        if y:
            return int(y)
        ref = newest or date.today()
        return ref.year if month <= ref.month else ref.year - 1

    def bounds(y: str | None, mo: str, d: str | None, part: str | None) -> tuple[date, date]:
        month = int(mo)
        yy = year(y, month)
        last = calendar.monthrange(yy, month)[1]
        if d:
            day = date(yy, month, int(d))
            return day, day
        lo, hi = {"初": (1, 10), "上旬": (1, 10), "中旬": (11, 20), "中": (11, 20), "下旬": (21, last), "底": (21, last),
                  "末": (21, last)}.get(part or "", (1, last))
        return date(yy, month, lo), date(yy, month, hi)

    try:
        lo, hi = bounds(m["y1"], m["m1"], m["d1"], m["p1"])
        if m["m2"]:
            _, hi = bounds(m["y2"] or m["y1"], m["m2"], m["d2"], m["p2"])
        elif m["d3"]:
            hi = date(lo.year, lo.month, int(m["d3"]))
    except ValueError:  # 2月30日
        return None
    if hi < lo:
        return None
    return lo.isoformat(), hi.isoformat()


def match(question: str, archive: Archive) -> TopicQuestion | None:
    """The topic question ``question`` is, or None for every other question."""
    q = normalize(question).strip()
    for kind, pattern in _PATTERNS:
        m = pattern.match(q)
        if not m:
            continue
        topic = m["x"].strip(" “”\"'《》")
        if not topic or len(topic) > 30:
            continue
        if kind == "range":
            days = parse_range(m["range"], archive.newest_date())
            if days is None:
                continue
            return TopicQuestion("range", topic, days[0], days[1], range_label=m["range"])
        if kind == "names":
            return TopicQuestion("names", topic, names=_NAMES[m["kind"]])
        return TopicQuestion(kind, topic)
    return None


def answer(question: str, tq: TopicQuestion, archive: Archive, filters: SearchFilters | None = None) -> Answer:
    """The answer to a recognised topic question, every statement cited."""
    f = filters or SearchFilters()
    date_from = max(filter(None, [tq.date_from, f.date_from]), default=None)
    date_to = min(filter(None, [tq.date_to, f.date_to]), default=None)
    if date_from and date_to and date_from > date_to:
        return _none(question, tq)
    tl = timeline(archive, tq.topic, date_from=date_from, date_to=date_to, by="day", paper=f.paper, top=0)
    dated = list(tl.matches)
    if f.page is not None:
        dated = [m for m in dated if m.article.page == f.page]
    if not dated:
        return _none(question, tq)
    if tq.kind in ("first", "last"):
        day = min(m.day for m in dated) if tq.kind == "first" else max(m.day for m in dated)
        m = next(x for x in dated if x.day == day)  # best first: the best of that day
        c = _cite(archive, 1, m, [tq.topic])
        word = "最早见报" if tq.kind == "first" else "最近一次见报"
        text = (f"档案中“{tq.topic}”{word}是在{c.date.label_zh(c.issue)}：{c.paper}{_page(c)}《{c.title}》。[1]"
                f"（档案中共有 {len(dated)} 篇日期明确的相关报道。）")
        return Answer(question, text, False, (c,), standalone_question=question)
    if tq.kind == "range":
        shown = sorted(dated[:6], key=lambda m: (m.day, m.article.page or 99))
        cites = [_cite(archive, i, m, [tq.topic]) for i, m in enumerate(shown, 1)]
        items = "；".join(f"{c.date.label_zh(c.issue)} {c.paper}{_page(c)}《{c.title}》[{c.n}]" for c in cites)
        more = f"，以下列出 {len(cites)} 篇" if len(dated) > len(cites) else ""
        text = f"{tq.range_label}关于“{tq.topic}”的报道共 {len(dated)} 篇{more}：{items}。"
        return Answer(question, text, False, tuple(cites), standalone_question=question)
    names = archive.catalogue.names(kind=tq.names, article_ids=[m.article.article_id for m in dated], limit=8)
    if not names:
        return _none(question, tq)
    best = {m.article.article_id: m for m in dated}
    cites, parts = [], []
    for e in names:
        naming = [best[a] for a in archive.catalogue.articles_naming(e.name, e.kind) if a in best]
        if not naming:
            continue
        m = min(naming, key=lambda x: (x.day, -x.score))  # where the name first appears in this story
        c = _cite(archive, len(cites) + 1, m, [e.name])
        cites.append(c)
        parts.append(f"{e.name}（{e.articles} 篇）[{c.n}]")
    label = {"person": "人物", "organization": "机构", "place": "地点"}[tq.names]
    text = f"关于“{tq.topic}”的 {len(dated)} 篇报道中，提到最多的{label}有：" + "、".join(parts) + "。"
    return Answer(question, text, False, tuple(cites), standalone_question=question)


def _page(c: Citation) -> str:
    return f"第{c.page}版" if c.page else ""


def _cite(archive: Archive, n: int, m: Match, words: list[str]) -> Citation:
    """``m`` cited with the sentence that names ``words`` (from whichever window holds it)."""
    needles = [normalize(w) for w in words]
    windows = archive.windows(m.article.article_id)
    for w in sorted(windows, key=lambda h: h.chunk_id != m.chunk_id):
        for s in split_sentences(w.text):
            if all(x in normalize(s) for x in needles):
                return cite(n, w, m.article, s)
    w = windows[0]
    return cite(n, w, m.article, split_sentences(w.text)[0] if split_sentences(w.text) else w.text[:120])


def _none(question: str, tq: TopicQuestion) -> Answer:
    when = f"{tq.range_label}" if tq.kind == "range" else ""
    return Answer(question, f"档案中没有找到{when}含“{tq.topic}”的报道。", True, (), standalone_question=question)
