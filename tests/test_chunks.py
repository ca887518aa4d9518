"""Chunking rules for Chinese text."""

from __future__ import annotations

from ingest.chunks import CHUNK_CHARS, chunk_article, split_sentences
from rag.records import Article, IssueDate


def _article(text: str, **kw) -> Article:
    base = dict(article_id="a1", source_id="a1", paper="渝中报", date=IssueDate("2023-12-01"), page=1,
                title="区委常委会召开会议", text=text, page_key="k")
    base.update(kw)
    return Article(**base)


def test_split_on_sentence_ends_keeping_closing_quotes():
    text = "他说：“要抓落实。”会议结束！你来吗？好；走吧"
    assert split_sentences(text) == ["他说：“要抓落实。”", "会议结束！", "你来吗？", "好；", "走吧"]


def test_paragraph_end_is_a_boundary():
    assert split_sentences("第一段没有句号\n第二段。") == ["第一段没有句号", "第二段。"]


def test_long_sentence_is_cut_at_commas_then_hard():
    sent = "，".join(["甲乙丙丁戊己庚辛"] * 10) + "。"
    parts = split_sentences(sent, limit=30)
    assert all(len(p) <= 30 for p in parts)
    assert "".join(parts) == sent
    assert all(p.endswith(("，", "。")) for p in parts)
    hard = split_sentences("字" * 70 + "。", limit=30)
    assert [len(p) for p in hard] == [30, 30, 11]


def test_chunks_never_split_mid_sentence_and_respect_size():
    sents = [f"第{i}句话讲了一件具体的事情，包含数字{i * 7}和名字张{i}。" for i in range(40)]
    chunks = chunk_article(_article("".join(sents)))
    assert len(chunks) > 1
    for c in chunks:
        assert len(c.text) <= CHUNK_CHARS
        assert c.text.endswith("。") and c.text.startswith("第")
    covered = "".join(c.text for c in chunks)
    assert all(s in covered for s in sents)


def test_overlap_repeats_one_short_sentence():
    sents = [f"第{i}句话讲了一件具体的事情，包含数字{i * 7}和名字张{i}。" for i in range(40)]
    chunks = chunk_article(_article("".join(sents)))
    for prev, nxt in zip(chunks, chunks[1:]):
        last = split_sentences(prev.text)[-1]
        assert nxt.text.startswith(last)


def test_chunk_carries_article_fields_and_headline_is_embedded():
    a = _article("会议指出，要抓好落实。", kicker="引题", subtitle="黄茂军主持", byline="记者 李一", continues_on_page=2)
    (c,) = chunk_article(a)
    assert (c.article_id, c.paper, c.page, c.date.iso, c.title) == ("a1", "渝中报", 1, "2023-12-01", "区委常委会召开会议")
    assert c.continues_on_page == 2 and c.byline == "记者 李一"
    assert c.embed_text == "引题 区委常委会召开会议 黄茂军主持\n会议指出，要抓好落实。"
    assert c.text == "会议指出，要抓好落实。"


def test_chunk_ids_are_content_hashes():
    a = _article("会议指出，要抓好落实。")
    assert chunk_article(a)[0].chunk_id == chunk_article(a)[0].chunk_id
    assert chunk_article(a)[0].chunk_id != chunk_article(_article("会议指出，要抓好落实！"))[0].chunk_id
    assert chunk_article(a)[0].chunk_id != chunk_article(_article("会议指出，要抓好落实。", page=2))[0].chunk_id


def test_seed_chunks(seed_articles):
    for a in seed_articles:
        chunks = chunk_article(a)
        assert chunks and all(a.title in c.embed_text for c in chunks)
        assert all(len(c.text) <= CHUNK_CHARS for c in chunks)
