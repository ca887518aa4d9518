"""What the archive holds: issues listed and deleted as a whole, articles rebuilt from windows."""

from __future__ import annotations

from ingest.chunks import chunk_article
from rag.archive import Archive
from rag.embedding import FakeEmbedder
from rag.keyword import KeywordIndex
from rag.records import Article, IssueDate, join_windows
from rag.store import InMemoryStore


def _archive(articles):
    emb = FakeEmbedder()
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    chunks = [c for a in articles for c in chunk_article(a, 40)]
    arch.add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    return arch, chunks


LONG = "渝中区举行网格员技能大比武决赛。共有11支代表队参加比赛。比赛分为理论和实操两部分。解放碑街道代表队获得一等奖。"


def test_issues_group_pages_and_delete_removes_only_that_issue():
    d1, d2 = IssueDate("2023-12-01"), IssueDate("", "2023-12-01")
    arch, _ = _archive([
        Article("a1", "s1", "渝中报", d1, 1, "大比武", LONG, page_key="page:渝中报/2023-12-01/1"),
        Article("a2", "s2", "渝中报", d1, 2, "宪法周", "宪法宣传周活动启动。", page_key="page:渝中报/2023-12-01/2"),
        Article("a3", "s3", "渝中报", d2, 1, "无日期", "日期不详的一篇。", page_key="page:渝中报/2023-12-undated/1"),
        Article("a4", "d4", "RGB", IssueDate("2023-01-05"), None, "", "一条新闻。", page_key="doc:d4"),
        Article("a5", "d5", "RGB", IssueDate("2023-01-05"), None, "", "另一条新闻。", page_key="doc:d5"),
    ])
    issues = {i.key: i for i in arch.issues()}
    assert set(issues) == {"page:渝中报/2023-12-01", "page:渝中报/2023-12-undated", "doc:RGB/2023-01-05"}
    full = issues["page:渝中报/2023-12-01"]
    assert full.pages == (1, 2) and full.articles == 2 and full.chunks > 2
    assert full.label_zh() == "渝中报 2023年12月1日 第1版、第2版"
    assert issues["doc:RGB/2023-01-05"].articles == 2
    before = arch.count()
    assert arch.delete_issue("page:渝中报/2023-12-01").chunks == full.chunks
    assert arch.count() == before - full.chunks == arch.keyword.count()
    assert "page:渝中报/2023-12-01" not in {i.key for i in arch.issues()}
    assert arch.delete_issue("page:nothing") is None
    gone = arch.delete_issue("doc:RGB/2023-01-05")
    assert gone.issue.kind == "doc" and gone.source_ids == ("d4", "d5") and gone.chunks == 2


def test_article_is_rebuilt_from_overlapping_windows():
    arch, chunks = _archive([Article("a1", "s1", "渝中报", IssueDate(), 1, "大比武", LONG, page_key="p1")])
    assert len([c for c in chunks if c.article_id == "a1"]) > 1
    first, text = arch.article("a1")
    assert text == LONG and first.chunk_index == 0
    assert arch.article("missing") is None


def test_join_windows():
    assert join_windows(["甲乙丙。丁戊。", "丁戊。己庚。", "己庚。辛。"]) == "甲乙丙。丁戊。己庚。辛。"
    assert join_windows(["无重叠。", "第二段。"]) == "无重叠。第二段。"
    assert join_windows([]) == ""
