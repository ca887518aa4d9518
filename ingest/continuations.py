"""Stories continued on another page: "（下转N版）" on page P, "（上接P版）" on page N.

Within one issue, each 上接 segment on page N is linked to the article of page P that
continues on page N and matches it best: its jump headline's words against the
article's headline, and its opening against the article's wording. A linked segment
takes the story's headline (so a fact printed only on page 2 is found and cited under
the page-1 headline) and keeps its own page (so the citation names the page the quoted
sentence is printed on).

Linking is a pure function of the two pages, whichever arrives first: a segment's
linked identity is derived from its own (unlinked) id and the story's, so ingesting the
pages in any order, in one batch or in two, ends with the same chunks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.records import Article, PageKey
from rag.text import bigrams

__all__ = ["Head", "Segment", "issue_prefix", "match", "linked", "link_articles", "MIN_SCORE"]

MIN_SCORE = 0.12  # below this a segment is left unlinked (its story's page may be missing)


def issue_prefix(page_key: str) -> str:
    """``page:<paper>/<issue>`` of a page's key; "" for keys that are not pages of an issue."""
    return PageKey.parse(page_key).issue_prefix


def _compact(s: str) -> str:
    return re.sub(r"\s+", "", s)


@dataclass(frozen=True)
class Head:
    """An article that continues on another page: what a segment is matched against."""

    article_id: str
    issue: str  # issue_prefix of its page
    page: int
    continues_on_page: int
    kicker: str
    title: str
    subtitle: str
    text: str  # its text without whitespace

    @property
    def headline(self) -> str:
        return " ".join(p for p in (self.kicker, self.title, self.subtitle) if p)

    @classmethod
    def of(cls, a: Article) -> Head:
        return cls(a.article_id, issue_prefix(a.page_key), a.page or 0, a.continues_on_page or 0, a.kicker, a.title,
                   a.subtitle, _compact(a.text))


@dataclass(frozen=True)
class Segment:
    """A 上接 segment: its own id and jump headline (before any link) and its opening."""

    segment_id: str
    page: int
    continued_from_page: int
    jump_head: str
    opening: str  # its first 120 characters without whitespace


def _score(seg: Segment, head: Head) -> float:
    words = bigrams(seg.jump_head)
    named = len(words & bigrams(head.headline)) / len(words) if words else 0.0
    opening = bigrams(seg.opening)
    worded = len(opening & bigrams(head.text)) / len(opening) if opening else 0.0
    return 2 * named + worded


def match(segments: Sequence[Segment], heads: Sequence[Head]) -> dict[str, Head]:
    """Segment id -> the head it continues: the best pairs first, each head and segment once."""
    pairs = [(_score(s, h), s.segment_id, h.article_id, s, h) for s in segments for h in heads
             if s.continued_from_page == h.page and h.continues_on_page == s.page]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    out: dict[str, Head] = {}
    used: set[str] = set()
    for score, sid, hid, _, h in pairs:
        if score < MIN_SCORE or sid in out or hid in used:
            continue
        out[sid] = h
        used.add(hid)
    return out


def linked(a: Article, head: Head, segment_id: str, jump_head: str) -> Article:
    """Segment ``a`` as part of ``head``'s story: the story's headline and a derived id."""
    new_id = hashlib.sha256(f"{segment_id}|story:{head.article_id}".encode()).hexdigest()[:16]
    return replace(a, article_id=new_id, source_id=new_id, kicker=head.kicker, title=head.title, subtitle=head.subtitle,
                   story_id=head.article_id, segment_id=segment_id, jump_head=jump_head)


def segment_of(a: Article) -> Segment | None:
    """A 上接 segment's matching features (from the article as segmented, unlinked)."""
    if not a.continued_from_page or not a.page:
        return None
    return Segment(a.segment_id or a.article_id, a.page, a.continued_from_page,
                   a.jump_head if a.story_id else a.headline, _compact(a.text)[:120])


def link_articles(articles: Sequence[Article], stored_heads: Sequence[Head] = ()) -> list[Article]:
    """The articles with every 上接 segment linked to its story where one matches, among
    the given articles and ``stored_heads`` (heads already in the archive)."""
    by_issue: dict[str, list[Article]] = {}
    for a in articles:
        if prefix := issue_prefix(a.page_key):
            by_issue.setdefault(prefix, []).append(a)
    links: dict[str, Head] = {}
    for prefix, arts in by_issue.items():
        segs = [s for a in arts if (s := segment_of(a)) is not None]
        if not segs:
            continue
        heads = [Head.of(a) for a in arts if a.continues_on_page and a.page]
        known = {h.article_id for h in heads}
        heads += [h for h in stored_heads if h.issue == prefix and h.article_id not in known]
        links.update(match(segs, heads))
    out = []
    for a in articles:
        seg = segment_of(a)
        head = links.get(seg.segment_id) if seg else None
        out.append(linked(a, head, seg.segment_id, seg.jump_head) if head else a)
    return out
