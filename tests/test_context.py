"""Fitting retrieved chunks into the prompt: merged windows, sentence selection, the budget."""

from rag.context import GAP, fit_sources, merge_windows
from rag.records import Hit, IssueDate


def _hit(cid, aid, text, index=0):
    return Hit(cid, aid, aid, "", "", IssueDate(), 1, text, 0.0, chunk_index=index)


def _cost(text: str) -> int:
    return len(text)  # one token per character keeps the arithmetic readable


def _head(h: Hit) -> str:
    return ""


def test_windows_of_one_article_become_one_source_in_reading_order():
    later = _hit("a2", "A", "乙句。丙句。", index=1)
    first = _hit("a1", "A", "甲句。乙句。", index=0)
    far = _hit("a5", "A", "戊句。", index=4)
    other = _hit("b1", "B", "别的文章。")
    merged = merge_windows([later, other, first, far])
    assert [h.article_id for h in merged] == ["A", "B"]  # at the rank of the best window
    assert merged[0].chunk_id == "a2"
    assert merged[0].text == f"甲句。乙句。丙句。{GAP}戊句。"  # overlap dropped, gap marked
    assert merged[1] is other


def test_the_sentence_holding_the_question_beats_rank_order():
    top = _hit("a", "A", "会议研究部署有关工作。" * 4 + "要做深做实调查研究工作。")
    second = _hit("b", "B", "交流会上，领导作交流发言，结合“四下基层”调研情况剖析研讨。其他内容在此。")
    fitted = fit_sources("交流会上领导发言结合了哪些调研情况？", [top, second], 60, _cost, _head)
    shown = dict((h.chunk_id, text) for h, text in fitted)
    assert "四下基层" in shown["b"]
    assert sum(len(t.replace(GAP, "")) for t in shown.values()) <= 60  # gap marks ride free


def test_the_sentence_after_a_pick_comes_in_before_other_text():
    h = _hit("a", "A", "开头无关的一句话。会议指出，推动长江经济带高质量发展是重大战略。要在高水平保护上，坚持共抓大保护。结尾无关。")
    (only,) = fit_sources("推动长江经济带高质量发展要坚持什么？", [h], 42, _cost, _head)
    text = only[1]
    assert "会议指出" in text and "共抓大保护" in text
    assert text.startswith(GAP) and text.endswith(GAP)  # the cut ends are marked


def test_without_selection_whole_sources_go_in_rank_order():
    a, b = _hit("a", "A", "第一篇。"), _hit("b", "B", "第二篇。")
    fitted = fit_sources("What was decided?", [a, b], 100, _cost, _head, select=False)
    assert [(h.chunk_id, t) for h, t in fitted] == [("a", "第一篇。"), ("b", "第二篇。")]


def test_the_best_hit_gets_in_even_when_nothing_fits():
    big = _hit("a", "A", "很长的一句没有句号" * 20)
    ((h, text),) = fit_sources("问题", [big], 10, _cost, _head)
    assert h is big and 0 < len(text) <= 14
    assert _cost(text) == 10  # trimmed by the cost given, to the budget exactly


def test_header_cost_counts_against_the_budget():
    a, b = _hit("a", "A", "甲。"), _hit("b", "B", "乙。")
    fitted = fit_sources("无关", [a, b], 12, _cost, lambda h: "x" * 8)
    assert [h.chunk_id for h, _ in fitted] == ["a"]  # 8 + 2 fits, a second 8 + 2 does not
