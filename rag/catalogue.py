"""The archive's spine: its issues, pages and articles, in the keyword index's database.

The chunk store knows chunks; the catalogue knows what they are chunks *of*: which issues
the archive holds, their pages, each page's articles, and the stories continued across
pages. It is a projection of the stored chunks, written by the same ``Archive.add`` and
``Archive.delete`` that write the vector store and the keyword index, and rebuilt from the
vector store when it is missing, older, or differs after an interrupted run
(``Archive.sync``). Listing the issues of an archive, an issue's pages and articles, a
story, or the newest date are single indexed queries, not scans of every chunk.

The same SQL runs on SQLite (beside the index, ``keyword.sqlite``) and on the PostgreSQL
of ``NEWSRAG_KEYWORD_URL`` (tests/test_catalogue_contract.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from rag.records import Chunk, IssueDate, IssueSummary, PageKey
from rag.sql import Database, PostgresDatabase, in_parts

__all__ = ["Catalogue", "ArticleEntry", "PageEntry", "EntityCount", "EntityExtractor", "LAYOUT"]

log = logging.getLogger(__name__)

# The catalogue's own layout: a catalogue of another (older) layout is rebuilt from the store.
# 2: with the names (people, organisations, places) of each chunk; 3: and of each article
# (cat_mentions), which a catalogue of layout 2 gets in place.
LAYOUT = "3"

_TABLES = ("cat_meta", "cat_issues", "cat_pages", "cat_articles", "cat_chunks", "cat_entities", "cat_entities_name",
           "cat_entities_chunk", "cat_mentions", "cat_mentions_name", "cat_mentions_kind",
           "cat_issues_day", "cat_pages_issue", "cat_articles_issue", "cat_articles_page", "cat_articles_story",
           "cat_articles_day", "cat_chunks_article")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cat_meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS cat_issues(issue_key TEXT PRIMARY KEY, paper TEXT NOT NULL, issue TEXT NOT NULL,
    day TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL, day_int INTEGER);
CREATE TABLE IF NOT EXISTS cat_pages(page_key TEXT PRIMARY KEY, issue_key TEXT NOT NULL, page INTEGER,
    source TEXT NOT NULL, image TEXT NOT NULL, width REAL, height REAL);
CREATE TABLE IF NOT EXISTS cat_articles(article_id TEXT PRIMARY KEY, page_key TEXT NOT NULL, issue_key TEXT NOT NULL,
    paper TEXT NOT NULL, kicker TEXT NOT NULL, title TEXT NOT NULL, subtitle TEXT NOT NULL, byline TEXT NOT NULL,
    day TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL, day_int INTEGER, page INTEGER,
    chars INTEGER NOT NULL, source_id TEXT NOT NULL, source TEXT NOT NULL, story_id TEXT NOT NULL,
    segment_id TEXT NOT NULL, jump_head TEXT NOT NULL, continues_on_page INTEGER, continued_from_page INTEGER,
    region TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cat_chunks(chunk_id TEXT PRIMARY KEY, article_id TEXT NOT NULL, chunk_index INTEGER NOT NULL,
    chars INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cat_entities(chunk_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY(chunk_id, kind, name));
CREATE INDEX IF NOT EXISTS cat_entities_name ON cat_entities(name, kind);
CREATE INDEX IF NOT EXISTS cat_entities_chunk ON cat_entities(chunk_id);
CREATE TABLE IF NOT EXISTS cat_mentions(article_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    day_int INTEGER, paper TEXT NOT NULL, PRIMARY KEY(article_id, kind, name));
CREATE INDEX IF NOT EXISTS cat_mentions_name ON cat_mentions(name, kind);
CREATE INDEX IF NOT EXISTS cat_mentions_kind ON cat_mentions(kind, name, day_int);
CREATE INDEX IF NOT EXISTS cat_issues_day ON cat_issues(day_int);
CREATE INDEX IF NOT EXISTS cat_pages_issue ON cat_pages(issue_key);
CREATE INDEX IF NOT EXISTS cat_articles_issue ON cat_articles(issue_key);
CREATE INDEX IF NOT EXISTS cat_articles_page ON cat_articles(page_key);
CREATE INDEX IF NOT EXISTS cat_articles_story ON cat_articles(story_id);
CREATE INDEX IF NOT EXISTS cat_articles_day ON cat_articles(day_int);
CREATE INDEX IF NOT EXISTS cat_chunks_article ON cat_chunks(article_id)
"""

_ARTICLE_COLUMNS = ("article_id, page_key, issue_key, paper, kicker, title, subtitle, byline, day, not_before, not_after, "
                    "day_int, page, chars, source_id, source, story_id, segment_id, jump_head, continues_on_page, "
                    "continued_from_page, region")


@dataclass(frozen=True)
class PageEntry:
    """One page of an issue as the catalogue holds it."""

    page_key: str
    issue_key: str
    page: int | None
    source: str
    image: str = ""
    size: tuple[float, float] | None = None


@dataclass(frozen=True)
class ArticleEntry:
    """One article (or one page's segment of a continued story), without its text."""

    article_id: str
    page_key: str
    issue_key: str
    paper: str
    date: IssueDate
    page: int | None
    kicker: str
    title: str
    subtitle: str
    byline: str
    chars: int
    source_id: str = ""
    source: str = ""
    story_id: str = ""
    segment_id: str = ""
    jump_head: str = ""
    continues_on_page: int | None = None
    continued_from_page: int | None = None
    region: tuple[float, float, float, float] | None = None

    @property
    def headline(self) -> str:
        return " ".join(p for p in (self.kicker, self.title, self.subtitle) if p)

    @property
    def issue(self) -> str:
        return PageKey.parse(self.page_key).issue


def head_parts(headline: str, title: str) -> tuple[str, str, str]:
    """(kicker, title, subtitle) of a stored headline, which is the three joined by spaces."""
    headline = headline or title
    i = headline.find(title) if title else -1
    if i < 0:
        return "", headline, ""
    return headline[:i].strip(), title, headline[i + len(title):].strip()


def _iso(day: int) -> str:
    return f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}"


def _day_int(iso: str) -> int | None:
    return int(iso.replace("-", "")) if iso else None


def _box(value: str):
    try:
        parts = tuple(float(v) for v in value.split(",")) if value else ()
    except ValueError:
        return None
    return parts if len(parts) == 4 else None


def _box_str(box) -> str:
    return ",".join(f"{v:.1f}" for v in box) if box else ""


# (text -> [(name, kind, mentions)]): the people, organisations and places a text names
EntityExtractor = Callable[[str], Iterable[tuple[str, str, int]]]


@dataclass(frozen=True)
class EntityCount:
    """A name across the archive (or part of it): how many articles mention it, and when first and last."""

    name: str
    kind: str  # person, organization or place
    articles: int
    first: str = ""  # ISO date of the earliest dated article naming it ("" when none is dated)
    last: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.kind, "articles": self.articles,
                "first": self.first or None, "last": self.last or None}


class Catalogue:
    """Issues, pages and articles of the archive, over one database connection.

    Args:
        db: the keyword index's database (``KeywordIndex.db``): the two are kept together.
        entities: finds the people, organisations and places of each chunk as it is added
            (``rag.entities``); None keeps no names.
    """

    def __init__(self, db: Database, entities: EntityExtractor | None = None) -> None:
        self.db = db
        self.entities = entities
        if isinstance(db, PostgresDatabase):
            db.own(*_TABLES)
        db.script(_SCHEMA)
        if not self.layout() and not self.count():  # a new catalogue is of the current layout
            self.mark_current()

    # --- state --------------------------------------------------------------------

    def layout(self) -> str:
        with self.db.read() as db:
            row = db.one("SELECT value FROM cat_meta WHERE key='layout'")
        return row[0] if row else ""

    def clear(self) -> None:
        """Forget everything (before a rebuild from the store)."""
        with self.db.write() as db:
            for t in ("cat_mentions", "cat_entities", "cat_chunks", "cat_articles", "cat_pages", "cat_issues", "cat_meta"):
                db.run(f"DELETE FROM {t}")

    def upgrade(self) -> bool:
        """Bring a catalogue of an older layout to ``LAYOUT`` in place where that needs no store
        (layout 2: the names of each article gathered from those of its chunks); False when it
        must be rebuilt from the store."""
        if self.layout() != "2":
            return False
        with self.db.write() as db:
            db.run("DELETE FROM cat_mentions")
            db.run(_MENTIONS_OF.format(where=""))
        self.mark_current()
        return True

    def mark_current(self) -> None:
        with self.db.write() as db:
            db.run("DELETE FROM cat_meta WHERE key='layout'")
            db.run("INSERT INTO cat_meta VALUES('layout', ?)", (LAYOUT,))

    def count(self) -> int:
        """How many chunks the catalogue knows (compared with the store's count at open)."""
        with self.db.read() as db:
            return db.one("SELECT COUNT(*) FROM cat_chunks")[0]

    def chunk_ids(self) -> set[str]:
        with self.db.read() as db:
            return {r[0] for r in db.rows("SELECT chunk_id FROM cat_chunks")}

    # --- writing ------------------------------------------------------------------

    def add(self, chunks: Sequence[Chunk]) -> None:
        """Record the issues, pages and articles these chunks belong to (insert or update).

        A chunk's ``metadata`` may carry ``article_chars`` (its article's length), ``kicker`` and
        ``subtitle``; without them the length is its chunks' and the parts come from the headline.
        """
        if not chunks:
            return
        names = self._names(chunks)
        first: dict[str, Chunk] = {}
        for c in chunks:
            first.setdefault(c.article_id, c)
        with self.db.write() as db:
            db.many("INSERT INTO cat_chunks(chunk_id, article_id, chunk_index, chars) VALUES(?,?,?,?) "
                    "ON CONFLICT(chunk_id) DO UPDATE SET article_id=excluded.article_id, "
                    "chunk_index=excluded.chunk_index, chars=excluded.chars",
                    [(c.chunk_id, c.article_id, c.index, len(c.text)) for c in {c.chunk_id: c for c in chunks}.values()])
            issues, pages, articles = {}, {}, []
            for c in first.values():
                key = PageKey.parse(c.page_key)
                issue_key = key.issue_key(c.paper, c.date)
                issues[issue_key] = (issue_key, c.paper, key.issue, c.date.iso, c.date.not_before, c.date.not_after,
                                     _day_int(c.date.iso or c.date.not_before))
                place = c.metadata.get("place")
                size = place.size if place is not None and place.size and place.size[0] else (None, None)
                row = (c.page_key, issue_key, c.page, c.metadata.get("source", ""),
                       place.image if place is not None else "", size[0], size[1])
                if c.page_key not in pages or (row[4] and not pages[c.page_key][4]):
                    pages[c.page_key] = row
                md = c.metadata
                if "kicker" in md or "subtitle" in md:
                    kicker, title, subtitle = md.get("kicker", ""), c.title, md.get("subtitle", "")
                else:
                    kicker, title, subtitle = head_parts(md.get("headline", c.title), c.title)
                chars = md.get("article_chars")
                articles.append((
                    c.article_id, c.page_key, issue_key, c.paper, kicker, title, subtitle, c.byline, c.date.iso,
                    c.date.not_before, c.date.not_after, _day_int(c.date.iso), c.page, int(chars) if chars else -1,
                    c.source_id, md.get("source", ""), md.get("story_id") or "", md.get("segment_id") or "",
                    md.get("jump_head") or "", c.continues_on_page, md.get("continued_from_page"),
                    _box_str(place.region) if place is not None else "",
                ))
            db.many("INSERT INTO cat_issues(issue_key, paper, issue, day, not_before, not_after, day_int) "
                    "VALUES(?,?,?,?,?,?,?) ON CONFLICT(issue_key) DO UPDATE SET paper=excluded.paper, "
                    "issue=excluded.issue, day=excluded.day, not_before=excluded.not_before, "
                    "not_after=excluded.not_after, day_int=excluded.day_int", list(issues.values()))
            db.many("INSERT INTO cat_pages(page_key, issue_key, page, source, image, width, height) VALUES(?,?,?,?,?,?,?) "
                    "ON CONFLICT(page_key) DO UPDATE SET issue_key=excluded.issue_key, page=excluded.page, "
                    "source=excluded.source, "
                    # an article without a place (a caption, a text block) leaves the page's image as it is
                    "image=CASE WHEN excluded.image <> '' THEN excluded.image ELSE cat_pages.image END, "
                    "width=COALESCE(excluded.width, cat_pages.width), height=COALESCE(excluded.height, cat_pages.height)",
                    list(pages.values()))
            updates = ", ".join(f"{c}=excluded.{c}" for c in _ARTICLE_COLUMNS.split(", ")[1:])
            db.many(f"INSERT INTO cat_articles({_ARTICLE_COLUMNS}) VALUES({','.join('?' * 22)}) "
                    f"ON CONFLICT(article_id) DO UPDATE SET {updates}", articles)
            if names is not None:
                for part, marks in in_parts(list(names)):
                    db.run(f"DELETE FROM cat_entities WHERE chunk_id IN ({marks})", part)
                db.many("INSERT INTO cat_entities(chunk_id, name, kind, n) VALUES(?,?,?,?)",
                        [(cid, name, kind, n) for cid, found in names.items() for name, kind, n in found])
            _refresh_mentions(db, list(first))
            # an article whose length was not given: the sum of its chunks' (windows overlap a little)
            marks = ",".join("?" * len(first))
            db.run(f"UPDATE cat_articles SET chars = (SELECT COALESCE(SUM(k.chars), 0) FROM cat_chunks k "
                   f"WHERE k.article_id = cat_articles.article_id) WHERE chars < 0 AND article_id IN ({marks})", list(first))

    def _names(self, chunks: Sequence[Chunk]) -> dict[str, list[tuple[str, str, int]]] | None:
        """Each chunk's names (its headline read with it), merged by name and kind."""
        if self.entities is None:
            return None
        out: dict[str, list[tuple[str, str, int]]] = {}
        for c in {c.chunk_id: c for c in chunks}.values():
            merged: dict[tuple[str, str], int] = {}
            for name, kind, n in self.entities(c.embed_text.replace("\n", "\n\n", 1) if c.metadata.get("headline") else c.text):
                merged[(name, kind)] = merged.get((name, kind), 0) + n
            out[c.chunk_id] = [(name, kind, n) for (name, kind), n in merged.items()]
        return out

    def delete(self, chunk_ids: Iterable[str]) -> None:
        """Forget these chunks, and the articles, pages and issues left without any."""
        ids = list(chunk_ids)
        with self.db.write() as db:
            for part, marks in in_parts(ids):
                arts = [r[0] for r in db.rows(f"SELECT DISTINCT article_id FROM cat_chunks WHERE chunk_id IN ({marks})", part)]
                db.run(f"DELETE FROM cat_chunks WHERE chunk_id IN ({marks})", part)
                db.run(f"DELETE FROM cat_entities WHERE chunk_id IN ({marks})", part)
                if not arts:
                    continue
                am = ",".join("?" * len(arts))
                pages = [r[0] for r in db.rows(f"SELECT DISTINCT page_key FROM cat_articles WHERE article_id IN ({am})", arts)]
                db.run(f"DELETE FROM cat_articles WHERE article_id IN ({am}) AND NOT EXISTS "
                       "(SELECT 1 FROM cat_chunks k WHERE k.article_id = cat_articles.article_id)", arts)
                _refresh_mentions(db, arts)
                pm = ",".join("?" * len(pages))
                issues = [r[0] for r in db.rows(f"SELECT DISTINCT issue_key FROM cat_pages WHERE page_key IN ({pm})", pages)]
                db.run(f"DELETE FROM cat_pages WHERE page_key IN ({pm}) AND NOT EXISTS "
                       "(SELECT 1 FROM cat_articles a WHERE a.page_key = cat_pages.page_key)", pages)
                if issues:
                    im = ",".join("?" * len(issues))
                    db.run(f"DELETE FROM cat_issues WHERE issue_key IN ({im}) AND NOT EXISTS "
                           "(SELECT 1 FROM cat_pages p WHERE p.issue_key = cat_issues.issue_key)", issues)

    def prune(self) -> None:
        """Forget pages left without articles and issues left without pages (after chunks
        were re-keyed to other pages)."""
        with self.db.write() as db:
            db.run("DELETE FROM cat_pages WHERE NOT EXISTS (SELECT 1 FROM cat_articles a WHERE a.page_key = cat_pages.page_key)")
            db.run("DELETE FROM cat_issues WHERE NOT EXISTS (SELECT 1 FROM cat_pages p WHERE p.issue_key = cat_issues.issue_key)")

    # --- reading ------------------------------------------------------------------

    def issues(self, date_from: str | None = None, date_to: str | None = None, paper: str | None = None) -> list[IssueSummary]:
        """Every issue (or ungrouped file, or paper and day of JSONL articles), newest first.

        ``date_from`` / ``date_to`` (ISO) keep the issues dated in that range, and undated ones
        whose earliest possible day is in it.
        """
        cond, params = _where(paper=paper, date_from=date_from, date_to=date_to)
        with self.db.read() as db:
            rows = db.rows(f"SELECT issue_key, paper, issue, day, not_before, not_after FROM cat_issues WHERE {cond}", params)
            wanted = {r[0] for r in rows}
            counts = {r[0]: (r[1], r[2]) for r in db.rows(
                "SELECT a.issue_key, COUNT(DISTINCT a.article_id), COUNT(k.chunk_id) FROM cat_articles a "
                "JOIN cat_chunks k ON k.article_id = a.article_id GROUP BY a.issue_key") if r[0] in wanted}
            pages: dict[str, set[int]] = {}
            for key, page in db.rows("SELECT issue_key, page FROM cat_pages WHERE page IS NOT NULL"):
                if key in wanted:
                    pages.setdefault(key, set()).add(page)
        out = [IssueSummary(key=r[0], paper=r[1], issue=r[2], date=IssueDate(r[3], r[4], r[5]),
                            pages=tuple(sorted(pages.get(r[0], ()))), articles=counts.get(r[0], (0, 0))[0],
                            chunks=counts.get(r[0], (0, 0))[1]) for r in rows]
        return sorted(out, key=lambda i: (i.date.iso or i.date.not_before, i.paper, i.key), reverse=True)

    def issue(self, issue_key: str) -> IssueSummary | None:
        with self.db.read() as db:
            row = db.one("SELECT day FROM cat_issues WHERE issue_key = ?", (issue_key,))
        if row is None:
            return None
        return next((i for i in self.issues() if i.key == issue_key), None)

    def pages_of(self, issue_key: str) -> list[PageEntry]:
        """The pages of one issue, by page number (unnumbered last)."""
        with self.db.read() as db:
            rows = db.rows("SELECT page_key, issue_key, page, source, image, width, height FROM cat_pages "
                           "WHERE issue_key = ?", (issue_key,))
        out = [PageEntry(r[0], r[1], r[2], r[3], r[4], (r[5], r[6]) if r[5] else None) for r in rows]
        return sorted(out, key=lambda p: (p.page is None, p.page or 0, p.page_key))

    def page_keys_of(self, issue_key: str) -> list[str]:
        with self.db.read() as db:
            return sorted(r[0] for r in db.rows("SELECT page_key FROM cat_pages WHERE issue_key = ?", (issue_key,)))

    def has_page(self, issue_key: str, page: int) -> bool:
        """Whether page ``page`` of that issue is in the archive."""
        with self.db.read() as db:
            return db.one("SELECT 1 FROM cat_pages WHERE issue_key = ? AND page = ?", (issue_key, page)) is not None

    def pages_by_source(self, page_keys: Sequence[str]) -> dict[str, str]:
        """{page key: source file} of those of the given pages the archive holds."""
        out: dict[str, str] = {}
        with self.db.read() as db:
            for part, marks in in_parts(list(page_keys)):
                out.update(db.rows(f"SELECT page_key, source FROM cat_pages WHERE page_key IN ({marks})", part))
        return out

    def articles(self, *, issue_key: str | None = None, page_key: str | None = None,
                 article_ids: Sequence[str] | None = None) -> list[ArticleEntry]:
        """Articles of an issue, of a page, or by id; in page and reading order."""
        if article_ids is not None:
            rows: list = []
            with self.db.read() as db:
                for part, marks in in_parts(list(article_ids)):
                    rows += db.rows(f"SELECT {_ARTICLE_COLUMNS} FROM cat_articles WHERE article_id IN ({marks})", part)
        else:
            col, value = ("issue_key", issue_key) if issue_key is not None else ("page_key", page_key)
            with self.db.read() as db:
                rows = db.rows(f"SELECT {_ARTICLE_COLUMNS} FROM cat_articles WHERE {col} = ?", (value,))
        return sorted((_entry(r) for r in rows), key=lambda a: (a.page is None, a.page or 0, a.page_key, a.article_id))

    def first_articles(self, limit: int) -> list[ArticleEntry]:
        """Up to ``limit`` articles, front pages first (page 1, then 2, …; unnumbered last)."""
        with self.db.read() as db:
            rows = db.rows(f"SELECT {_ARTICLE_COLUMNS} FROM cat_articles "
                           "ORDER BY COALESCE(page, 99), article_id LIMIT ?", (int(limit),))
        return [_entry(r) for r in rows]

    def article(self, article_id: str) -> ArticleEntry | None:
        found = self.articles(article_ids=[article_id])
        return found[0] if found else None

    def chunk_ids_of(self, article_ids: Sequence[str]) -> dict[str, list[str]]:
        """{article id: its chunk ids in reading order}."""
        out: dict[str, list[tuple[int, str]]] = {}
        with self.db.read() as db:
            for part, marks in in_parts(list(article_ids)):
                for aid, idx, cid in db.rows(f"SELECT article_id, chunk_index, chunk_id FROM cat_chunks "
                                             f"WHERE article_id IN ({marks})", part):
                    out.setdefault(aid, []).append((idx, cid))
        return {a: [c for _, c in sorted(v)] for a, v in out.items()}

    def story(self, article_id: str) -> list[ArticleEntry]:
        """A story continued across pages, in reading order, given any of its segments: its
        first segment, then the others by page; one entry for an article on one page."""
        first = self.article(article_id)
        if first is None:
            return []
        story_id = first.story_id or article_id
        with self.db.read() as db:
            rows = db.rows(f"SELECT {_ARTICLE_COLUMNS} FROM cat_articles WHERE article_id = ? OR story_id = ?",
                           (story_id, story_id))
        return sorted((_entry(r) for r in rows), key=lambda a: (a.page or 0, a.article_id != story_id, a.article_id))

    def docs_keyed_otherwise(self) -> list[ArticleEntry]:
        """JSONL articles stored under a key other than ``doc:<article id>`` (layout 1)."""
        with self.db.read() as db:
            rows = db.rows(f"SELECT {_ARTICLE_COLUMNS} FROM cat_articles WHERE substr(page_key, 1, 4) = 'doc:' "
                           "AND page_key <> ('doc:' || article_id)")
        return [_entry(r) for r in rows]

    def articles_of_chunks(self, chunk_ids: Iterable[str]) -> dict[str, str]:
        """{chunk id: its article id} of the given chunks the catalogue knows."""
        out: dict[str, str] = {}
        with self.db.read() as db:
            for part, marks in in_parts(list(chunk_ids), 900):
                out.update(db.rows(f"SELECT chunk_id, article_id FROM cat_chunks WHERE chunk_id IN ({marks})", part))
        return out

    def names(self, *, kind: str | None = None, article_ids: Sequence[str] | None = None, date_from: str | None = None,
              date_to: str | None = None, name: str | None = None, paper: str | None = None,
              limit: int = 50) -> list[EntityCount]:
        """The names mentioned most (by articles), with the first and last date they were printed.

        Args:
            kind: only ``person``, ``organization`` or ``place``.
            article_ids: only in these articles (a topic's); None for the whole archive.
            date_from / date_to: only articles dated in this range (ISO; undated articles then left out).
            name: only this name.
            paper: only this paper's articles.
            limit: at most this many, most mentioned first (ties by name).
        """
        cond, params = _where(paper=paper, kind=kind, name=name, date_from=date_from, date_to=date_to)
        with self.db.read() as db:
            if article_ids is None:  # the whole archive: counted by the database
                rows = db.rows(f"SELECT name, kind, COUNT(*), MIN(day_int), MAX(day_int) FROM cat_mentions WHERE {cond} "
                               "GROUP BY name, kind ORDER BY COUNT(*) DESC, name, kind LIMIT ?", [*params, int(limit)])
                return [EntityCount(nm, kd, n, _iso(lo) if lo else "", _iso(hi) if hi else "") for nm, kd, n, lo, hi in rows]
            ids = list(dict.fromkeys(article_ids))
            found = [r for part, marks in in_parts(ids, 900) for r in db.rows(
                f"SELECT name, kind, day_int FROM cat_mentions WHERE {cond} AND article_id IN ({marks})", [*params, *part])]
        seen: dict[tuple[str, str], list[int | None]] = {}
        for nm, kd, day in found:
            seen.setdefault((nm, kd), []).append(day)
        out = []
        for (nm, kd), days_of in seen.items():
            days = sorted(d for d in days_of if d)
            out.append(EntityCount(nm, kd, len(days_of), _iso(days[0]) if days else "", _iso(days[-1]) if days else ""))
        out.sort(key=lambda e: (-e.articles, e.name, e.kind))
        return out[:limit]

    def names_of(self, article_ids: Sequence[str]) -> dict[str, list[tuple[str, str, int]]]:
        """{article id: [(name, kind, mentions)]} for the given articles, most mentioned first."""
        out: dict[str, dict[tuple[str, str], int]] = {}
        with self.db.read() as db:
            for part, marks in in_parts(list(article_ids), 900):
                for aid, nm, kd, n in db.rows(
                        "SELECT k.article_id, e.name, e.kind, e.n FROM cat_entities e JOIN cat_chunks k ON k.chunk_id = e.chunk_id "
                        f"WHERE k.article_id IN ({marks})", part):
                    got = out.setdefault(aid, {})
                    got[(nm, kd)] = max(got.get((nm, kd), 0), n)  # windows overlap: the most any window holds
        return {a: sorted(((nm, kd, n) for (nm, kd), n in v.items()), key=lambda t: (-t[2], t[0])) for a, v in out.items()}

    def articles_naming(self, name: str, kind: str | None = None) -> list[str]:
        """The ids of the articles that mention this name."""
        sql = "SELECT article_id FROM cat_mentions WHERE name = ?" + (" AND kind = ?" if kind else "")
        with self.db.read() as db:
            return [r[0] for r in db.rows(sql, (name, kind) if kind else (name,))]

    def newest_date(self) -> date | None:
        """The newest issue date in the archive, or None when none is dated."""
        with self.db.read() as db:
            (d,) = db.one("SELECT MAX(day_int) FROM cat_articles")
        return date(d // 10000, d // 100 % 100, d % 100) if d else None

    def page_numbers(self) -> list[int]:
        """Every page number the archive holds, ascending (the app's page filter)."""
        with self.db.read() as db:
            return [r[0] for r in db.rows("SELECT DISTINCT page FROM cat_articles WHERE page IS NOT NULL ORDER BY page")]


# each article's names (once per name and kind) with its day and paper, from its chunks' names
_MENTIONS_OF = ("INSERT INTO cat_mentions(article_id, name, kind, day_int, paper) "
                "SELECT DISTINCT k.article_id, e.name, e.kind, a.day_int, a.paper FROM cat_entities e "
                "JOIN cat_chunks k ON k.chunk_id = e.chunk_id JOIN cat_articles a ON a.article_id = k.article_id{where}")


def _where(date_from: str | None = None, date_to: str | None = None, **equal: str | None) -> tuple[str, list]:
    """A WHERE condition on a table with ``day_int``: its columns equal to the values given
    (None and "" left out) and its day in the range; "1=1" for none."""
    where, params = ["1=1"], []
    for col, value in equal.items():
        if value:
            where.append(f"{col} = ?")
            params.append(value)
    for op, day in ((">=", date_from), ("<=", date_to)):
        if day:
            where.append(f"day_int {op} ?")
            params.append(_day_int(day))
    return " AND ".join(where), params


def _refresh_mentions(db: Database, article_ids: list[str]) -> None:
    """Gather again the names of these articles (after their chunks or their date changed)."""
    for part, marks in in_parts(article_ids):
        db.run(f"DELETE FROM cat_mentions WHERE article_id IN ({marks})", part)
        db.run(_MENTIONS_OF.format(where=f" WHERE k.article_id IN ({marks})"), part)


def _entry(r) -> ArticleEntry:
    return ArticleEntry(
        article_id=r[0], page_key=r[1], issue_key=r[2], paper=r[3], kicker=r[4], title=r[5], subtitle=r[6],
        byline=r[7], date=IssueDate(r[8], r[9], r[10]), page=r[12], chars=r[13], source_id=r[14], source=r[15],
        story_id=r[16], segment_id=r[17], jump_head=r[18], continues_on_page=r[19], continued_from_page=r[20],
        region=_box(r[21]),
    )
