"""Exploring across issues on dated fixtures of our own: timelines checked against a brute-force
count, first and last mention, undated articles apart, summaries inside their range, the
chat's topic questions, and the commands."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunks import chunk_article
from rag.archive import Archive
from rag.embedding import FakeEmbedder
from rag.errors import InputError
from rag.explore import find_articles, related, timeline
from rag.filters import SearchFilters
from rag.keyword import KeywordIndex
from rag.records import Article, IssueDate
from rag.store import InMemoryStore
from rag.text import normalize
from rag.topic_questions import match, parse_range

TOPICS = ["涿州", "杜苏芮", "大运会", "救援队", "供电"]
FILLER = ["居民生活恢复正常。", "有关部门发布通知。", "天气转晴，气温回升。", "学校开学准备就绪。", "交通逐步恢复。"]


def _article(i: int, day: str, paper: str, words: list[str], page: int | None = 1) -> Article:
    text = "".join(f"{FILLER[(i + k) % len(FILLER)]}{w}的情况引起关注。" for k, w in enumerate(words)) or FILLER[i % 5]
    return Article(f"a{i}", f"s{i}", paper, IssueDate(day), page, f"第{i}条新闻", text + FILLER[(i + 3) % 5],
                   page_key=f"doc:a{i}", source=f"s{i}")


def _archive(arts: list[Article]) -> Archive:
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    chunks = [c for a in arts for c in chunk_article(a)]
    if chunks:
        arch.add(chunks, FakeEmbedder().embed_documents([c.embed_text for c in chunks]))
    return arch


FIXTURE = [
    _article(1, "2023-07-29", "晚报", ["杜苏芮"]),
    _article(2, "2023-07-30", "晚报", ["杜苏芮", "涿州"]),
    _article(3, "2023-07-31", "日报", ["涿州市", "救援队"], page=2),
    _article(4, "2023-08-01", "晚报", ["涿州", "救援队"]),
    _article(5, "2023-08-01", "日报", ["大运会"]),
    _article(6, "2023-08-07", "日报", ["涿州", "供电"], page=3),
    _article(7, "", "日报", ["涿州"], page=None),  # undated
    _article(8, "2023-08-20", "晚报", ["大运会", "涿州"]),
]


@pytest.fixture(scope="module")
def arch():
    return _archive(FIXTURE)


def _holds(a: Article, query: str) -> bool:
    body = normalize(f"{a.headline}\n{a.text}")
    return all(normalize(w) in body for w in query.split())


def test_every_article_holding_the_query_is_found_and_nothing_else(arch):
    for q in ["涿州", "涿州市", "涿州 救援队", "杜苏芮", "大运会 涿州", "供电", "没有的词"]:
        want = {a.article_id for a in FIXTURE if _holds(a, q)}
        assert {m.article.article_id for m in find_articles(arch, q)} == want, q
    assert {m.article.article_id for m in find_articles(arch, "涿州", SearchFilters(paper="日报"))} == {"a3", "a6", "a7"}
    with pytest.raises(InputError):
        find_articles(arch, "  ")


def test_timeline_counts_first_last_and_undated(arch):
    tl = timeline(arch, "涿州", by="week")
    assert (tl.total, tl.undated) == (6, 1)
    assert tl.first.article_id == "a2" and tl.first.date.iso == "2023-07-30" and "涿州" in tl.first.quote
    assert tl.last.article_id == "a8" and tl.last.date.iso == "2023-08-20"
    assert [(p.start, p.end, p.articles) for p in tl.periods] == [
        ("2023-07-24", "2023-07-30", 1), ("2023-07-31", "2023-08-06", 2), ("2023-08-07", "2023-08-13", 1),
        ("2023-08-14", "2023-08-20", 1)]
    assert sum(p.articles for p in tl.periods) == tl.total - tl.undated  # the undated are on no date
    cited = [c for p in tl.periods for c in p.top]
    assert [c.n for c in cited] == list(range(1, len(cited) + 1)) and all(c.quote in c.text for c in cited)
    d = tl.to_dict()
    assert set(d) >= {"query", "total", "undated", "first", "last", "periods"}
    assert {"date", "article_id", "title", "quote", "n", "paper", "page"} <= set(d["periods"][0]["top"][0])
    json.dumps(d, ensure_ascii=False)
    assert timeline(arch, "没有的词").to_dict()["periods"] == []


def test_a_range_counts_only_inside_it_and_the_summary_cites_nothing_outside(arch):
    tl = timeline(arch, "涿州", date_from="2023-07-31", date_to="2023-08-10", by="day", summary=True)
    assert tl.periods[0].start == "2023-07-31" and tl.periods[-1].end == "2023-08-10" and len(tl.periods) == 11
    assert sum(p.articles for p in tl.periods) == 3 and tl.first.article_id == "a3" and tl.last.article_id == "a6"
    assert tl.summary and all("2023-07-31" <= s.date <= "2023-08-10" for s in tl.summary)
    assert all("2023-07-31" <= s.citation.date.iso <= "2023-08-10" and s.date == s.citation.date.iso for s in tl.summary)
    assert all(s.text.rstrip("…") in s.citation.quote or s.citation.quote.startswith(s.text.rstrip("…")) for s in tl.summary)
    with pytest.raises(InputError):
        timeline(arch, "涿州", by="year")
    with pytest.raises(InputError):
        timeline(arch, "涿州", date_from="2023-08-10", date_to="2023-07-31")


_days = st.dates(date(2023, 7, 1), date(2023, 9, 30))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.one_of(st.none(), _days), st.sampled_from(["晚报", "日报"]),
                          st.lists(st.sampled_from(TOPICS), max_size=3)), min_size=1, max_size=14),
       st.sampled_from(["day", "week", "month"]), st.sampled_from(TOPICS + ["涿州 救援队", "大运会 供电"]))
def test_counts_per_period_equal_a_brute_force_count(rows, by, query):
    arts = [_article(i, d.isoformat() if d else "", paper, words) for i, (d, paper, words) in enumerate(rows)]
    tl = timeline(_archive(arts), query, by=by)
    holding = [a for a in arts if _holds(a, query)]
    dated = sorted(a.date.iso for a in holding if a.date.iso)
    assert (tl.total, tl.undated) == (len(holding), len(holding) - len(dated))
    for p in tl.periods:
        assert p.articles == sum(p.start <= d <= p.end for d in dated)
    if dated:
        assert tl.first.date.iso == dated[0] and tl.last.date.iso == dated[-1]
        starts = [date.fromisoformat(p.start) for p in tl.periods]
        assert all(b > a for a, b in zip(starts, starts[1:]))  # consecutive, no gap, no overlap
        assert all(date.fromisoformat(a.end) + timedelta(days=1) == date.fromisoformat(b.start)
                   for a, b in zip(tl.periods, tl.periods[1:]))
    else:
        assert tl.first is None and tl.periods == ()


def test_related_coverage_is_on_other_dates(arch):
    earlier, later = related(arch, "a4")
    assert all(a.date.iso < "2023-08-01" for a in earlier) and all(a.date.iso > "2023-08-01" for a in later)
    assert "a4" not in {a.article_id for a in earlier + later} and earlier + later
    assert related(arch, "a7") == ([], [])  # undated: no before or after


@pytest.mark.parametrize("text,want", [
    ("7月底到8月初", ("2023-07-21", "2023-08-10")),
    ("8月1日至8月5日", ("2023-08-01", "2023-08-05")),
    ("8月1日至5日", ("2023-08-01", "2023-08-05")),
    ("2022年7月", ("2022-07-01", "2022-07-31")),
    ("8月中旬", ("2023-08-11", "2023-08-20")),
    ("12月", ("2022-12-01", "2022-12-31")),  # after the newest issue's month: last year's
    ("8月5日到8月1日", None),
    ("明天", None),
])
def test_dates_of_a_question_are_read_against_the_archive(text, want):
    assert parse_range(text, date(2023, 8, 20)) == want


@pytest.mark.parametrize("question,kind,topic", [
    ("涿州最早是什么时候见报的？", "first", "涿州"),
    ("关于杜苏芮的报道最早是哪天？", "first", "杜苏芮"),
    ("最早报道涿州是什么时候", "first", "涿州"),
    ("涿州最近一次报道是哪天", "last", "涿州"),
    ("大运会最后一次见报是什么时候？", "last", "大运会"),
    ("7月底到8月初关于涿州的报道有哪些", "range", "涿州"),
    ("涿州事件中提到了哪些人", "names", "涿州"),
    ("星辰花园小区是哪一年建成的？", None, None),
    ("渝中区宪法宣传周活动哪天启动？", None, None),
    ("涿州最早是什么时候建成的", None, None),
])
def test_topic_questions_are_recognised_and_others_go_the_usual_way(arch, question, kind, topic):
    tq = match(question, arch)
    assert (tq.kind, tq.topic) == (kind, topic) if kind else tq is None


def test_the_chain_answers_topic_questions_from_the_timeline_with_citations(arch):
    from rag.answering import AnswerChain
    from rag.chat_models import FakeChat
    from rag.retrieval import HybridRetriever

    chain = AnswerChain(HybridRetriever(FakeEmbedder(), arch), FakeChat("不会用到。"))
    first = chain.ask("涿州最早是什么时候见报的？")
    assert not first.refused and "2023年7月30日" in first.text and [c.article_id for c in first.citations] == ["a2"]
    assert first.citations[0].date.iso == "2023-07-30" and "涿州" in first.citations[0].quote
    last = chain.ask("涿州最近一次报道是哪天")
    assert "2023年8月20日" in last.text and last.citations[0].article_id == "a8"
    span = chain.ask("7月底到8月初关于涿州的报道有哪些")
    assert "共 4 篇" in span.text and {c.article_id for c in span.citations} == {"a2", "a3", "a4", "a6"}
    assert all("2023-07-21" <= c.date.iso <= "2023-08-10" for c in span.citations)
    assert "topic_ms" in span.timings_ms
    streamed = list(chain.stream("涿州最早是什么时候见报的？"))
    assert streamed[-1].citations[0].article_id == "a2" and isinstance(streamed[0], str)


def _cli_env(tmp_path, monkeypatch, rows):
    monkeypatch.setenv("NEWSRAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEWSRAG_EMBEDDER", "fake")
    f = tmp_path / "docs.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    from ui.cli import main

    def run(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    assert run("ingest", str(f)).exit_code == 0
    return run


def test_the_commands(tmp_path, monkeypatch):
    rows = [{"id": a.source_id, "paper": a.paper, "date": a.date.iso, "title": a.title, "text": a.text} for a in FIXTURE]
    run = _cli_env(tmp_path, monkeypatch, rows)
    out = run("timeline", "涿州", "--json", "--by", "month", "--summary")
    tl = json.loads(out.output)
    assert out.exit_code == 0 and tl["total"] == 6 and tl["undated"] == 1 and tl["first"]["date"] == "2023-07-30"
    assert [p["articles"] for p in tl["periods"]] == [2, 3] and tl["summary"]
    human = run("timeline", "涿州", "--by", "day", "--plot", str(tmp_path / "t.png"))
    assert human.exit_code == 0 and "最早见报" in human.output and (tmp_path / "t.png").stat().st_size > 1000
    issues = json.loads(run("issues", "--json", "--from", "2023-08-01").output)
    assert {i["date"] for i in issues} == {"2023-08-01", "2023-08-07", "2023-08-20"}
    assert all({"paper", "issue", "date", "pages", "articles"} <= set(i) for i in issues)
    bad = run("timeline", "涿州", "--from", "2023-13-01")
    assert bad.exit_code == 2 and bad.output.startswith("错误：")
    assert run("timeline", "  ").exit_code == 2
    assert run("entities", "--json").exit_code == 0


NAMED = [
    Article("n1", "n1", "晚报", IssueDate("2023-07-31"), 1, "涿州全力排涝",
            "7月31日，涿州市委书记王\n强在排涝现场指挥，记者李一报道。", page_key="doc:n1"),
    Article("n2", "n2", "日报", IssueDate("2023-08-03"), 2, "涿州恢复供电",
            "8月3日，王强来到国网涿州供电公司检查抢修进度。", page_key="doc:n2"),
    Article("n3", "n3", "日报", IssueDate("2023-08-05"), 1, "成都大运会闭幕", "8月8日，成都大运会闭幕，运动员张伟夺得金牌。",
            page_key="doc:n3"),
]


def test_names_are_found_at_ingest_even_split_across_lines_and_counted_by_topic_and_date():
    from rag.explore import entities

    arch = _archive(NAMED)
    people = {e.name: e for e in entities(arch, kind="person")}
    assert {"王强", "李一", "张伟"} <= set(people)  # 王\n强 wrapped over two lines still counts
    assert (people["王强"].articles, people["王强"].first, people["王强"].last) == (2, "2023-07-31", "2023-08-03")
    topic = {e.name for e in entities(arch, "涿州", kind="person")}
    assert "王强" in topic and "张伟" not in topic
    assert "王强" not in {e.name for e in entities(arch, kind="person", date_from="2023-08-04")}
    assert any(e.kind == "organization" for e in entities(arch)) and any(e.kind == "place" for e in entities(arch))
    with pytest.raises(InputError):
        entities(arch, kind="animal")
    assert {m.article.article_id for m in timeline(arch, "王强").matches} == {"n1", "n2"}  # 王\n强 too: a name opens its timeline


def test_the_chain_names_the_people_of_a_topic_each_cited():
    from rag.answering import AnswerChain
    from rag.chat_models import FakeChat
    from rag.retrieval import HybridRetriever

    chain = AnswerChain(HybridRetriever(FakeEmbedder(), _archive(NAMED)), FakeChat("不会用到。"))
    ans = chain.ask("涿州事件中提到了哪些人？")
    assert not ans.refused and "王强" in ans.text and "张伟" not in ans.text
    c = next(c for c in ans.citations if c.article_id in ("n1", "n2"))
    assert c.date.iso in ("2023-07-31", "2023-08-03") and f"[{c.n}]" in ans.text
