"""Metrics on a tiny hand-checked set, question files, splits, and the report."""

from __future__ import annotations

import json

import pytest

from rag.errors import InputError
from rag.evaluation import Question, evaluate, load_questions, split_questions, write_report
from rag.records import Hit, IssueDate


def _q(i, gold, type_="t1"):
    return Question(str(i), f"q{i}", "a", frozenset(gold), type_)


def _hits(*sids):
    return [Hit(f"c{s}", s, s, f"title {s}", "", IssueDate(), None, "text", 1.0) for s in sids]


# question -> what the search returns (source ids in rank order)
RESULTS = {
    "q1": _hits("g1", "x", "y"),                 # gold at rank 1
    "q2": _hits("x", "y", "g2", "z"),            # rank 3
    "q3": _hits(*[f"n{i}" for i in range(7)], "g3"),  # rank 8
    "q4": _hits("x", "y"),                       # miss
}


def test_metrics_hand_checked():
    qs = [_q(1, {"g1"}), _q(2, {"g2", "other"}), _q(3, {"g3"}, "t2"), _q(4, {"g4"}, "t2")]
    res = evaluate(lambda q, k: RESULTS[q][:k], qs, top_k=10)
    s = res.summary()
    assert s["n"] == 4
    assert s["hit@1"] == 0.25  # q1
    assert s["hit@5"] == 0.5  # q1, q2
    assert s["hit@10"] == 0.75  # q1, q2, q3
    assert s["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 8 + 0) / 4, abs=1e-4)
    assert s["by_type"]["t1"]["hit@1"] == 0.5 and s["by_type"]["t2"]["hit@10"] == 0.5
    assert set(s["latency_ms"]) == {"p50", "p95"}
    assert res.hit_curve(10)[2] == 0.5 and res.hit_curve(10)[7] == 0.75


def test_top_k_limits_what_counts():
    qs = [_q(3, {"g3"})]
    assert evaluate(lambda q, k: RESULTS[q][:k], qs, top_k=5).summary()["hit@10"] == 0.0


def test_splits_every_fourth_question_is_test():
    qs = [_q(i, {"g"}) for i in range(1, 13)]
    assert [q.id for q in split_questions(qs, "test")] == ["4", "8", "12"]
    assert len(split_questions(qs, "dev")) == 9 and len(split_questions(qs, "all")) == 12
    with pytest.raises(InputError):
        split_questions(qs, "train")


def test_load_questions_and_errors(tmp_path):
    f = tmp_path / "qa.jsonl"
    f.write_text(json.dumps({"id": "x", "question": "哪天？", "answer": ["12月1日"], "source_doc_ids": ["d1"], "type": "t"}) + "\n\n", encoding="utf-8")
    (q,) = load_questions(f)
    assert q.gold == frozenset({"d1"}) and q.type == "t"
    f.write_text('{"id": "x", "question": "a", "source_doc_ids": ["d"]}\n{"id": "y"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"qa.jsonl:2"):
        load_questions(f)
    with pytest.raises(InputError, match="cannot read"):
        load_questions(tmp_path / "missing.jsonl")


def test_report_has_table_and_plot(tmp_path):
    qs = [_q(1, {"g1"}), _q(4, {"g4"}, "t2")]
    res = evaluate(lambda q, k: RESULTS[q][:k], qs, top_k=10)
    path = write_report(res, tmp_path / "rep")
    md = path.read_text(encoding="utf-8")
    assert "| 1 | q1 | g1 |" in md and "**miss**" in md and "hit_at_k.png" in md
    png = (tmp_path / "rep" / "hit_at_k.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["n"] == 2


@pytest.mark.parametrize(
    "answer,gold,ok",
    [
        ("2023年12月1日启动。", ["12月1日"], True),
        ("共有 11 支代表队", ["11支"], True),
        ("“法律明白人”获奖", ["法律明白人"], True),
        ("臺灣經濟成長", ["台湾"], True),
        ("甲和乙", ["甲", "乙"], True),
        ("只有甲", ["甲", "乙"], False),
        ("答案是B", [["A", "B"]], True),
        ("无", [], False),
    ],
)
def test_rgb_answer_rule(answer, gold, ok):
    from rag.evaluation import answer_matches

    assert answer_matches(answer, gold) is ok


def test_evaluate_answers_counts(tmp_path):
    from rag.evaluation import evaluate_answers
    from rag.records import Answer, Citation

    class Chain:
        def ask(self, question, exclude_sources=frozenset()):
            if exclude_sources:
                return Answer(question, "抱歉", True)
            cite = Citation(1, "", IssueDate(), 1, "t", "a", "g1" if question == "q1" else "x", "quote")
            return Answer(question, "答案是12月1日[1]", False, (cite,), timings_ms={"retrieve_ms": 5, "first_token_ms": 15, "generate_ms": 30, "total_ms": 40})

    qs = [_q(1, {"g1"}), _q(2, {"g2"})]
    qs = [Question(q.id, q.question, ["12月1日"] if q.id == "1" else ["没有"], q.gold, q.type) for q in qs]
    out = evaluate_answers(Chain(), qs)
    assert out["accuracy"] == 0.5 and out["answers_citing_gold"] == 0.5
    assert out["refusal_without_gold"] == 1.0 and out["answers_with_citation"] == 1.0
    assert out["latency_ms"]["first_token_p50"] == 15 and out["latency_ms"]["total_p50"] == 40


def test_answer_rank_counts_answer_text_from_any_document():
    from rag.evaluation import answer_rank

    passages = ["香港GDP增长6.4%。", "无关。", "澳門增長１８％"]
    assert answer_rank(["6.4%", "18%"], passages) == 3  # the second element first appears at rank 3
    assert answer_rank([["6.4％", "六点四"]], passages) == 1  # alternatives; full-width normalised
    assert answer_rank(["7%"], passages) is None
    assert answer_rank("", passages) is None and answer_rank([], passages) is None


def test_answer_at_k_hand_checked():
    def hits(*texts):
        return [Hit(f"c{i}", f"s{i}", f"s{i}", "", "", IssueDate(), None, t, 1.0) for i, t in enumerate(texts)]

    qs = [Question("1", "a", ["甲"], frozenset({"gold"})), Question("2", "b", ["乙", "丙"], frozenset({"gold"})),
          Question("3", "c", None, frozenset({"gold"}))]
    results = {"a": hits("甲在此"), "b": hits("乙", "x", "x", "x", "x", "丙"), "c": hits("x")}
    s = evaluate(lambda q, k: results[q][:k], qs, top_k=10).summary()
    # no gold id was found at all, yet question 1 has its answer at rank 1 and question 2 at rank 6;
    # question 3 has no answer and is left out of answer@k
    assert s["hit@10"] == 0.0
    assert (s["answer@1"], s["answer@5"], s["answer@10"]) == (0.5, 0.5, 1.0)
