"""Retrieval metrics over a question set (RGB format), and a report staff can read."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import InputError
from rag.records import Hit

__all__ = [
    "Question",
    "QuestionResult",
    "EvalResult",
    "load_questions",
    "split_questions",
    "evaluate",
    "write_report",
    "answer_matches",
    "answer_rank",
    "evaluate_answers",
    "answers_summary",
    "question_rows",
    "summary_lines",
    "write_answers",
]

KS = (1, 5, 10)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: object
    gold: frozenset[str]
    type: str = ""


@dataclass
class QuestionResult:
    question: Question
    found: list[str]  # source ids of the hits, in rank order
    titles: list[str]
    rank: int | None  # 1-based rank of the first gold hit, None if absent
    latency_ms: float
    # 1-based k at which the top-k passages together hold every answer element (RGB rule);
    # None if they never do, or the question has no answer.
    answer_rank: int | None = None


@dataclass
class EvalResult:
    results: list[QuestionResult] = field(default_factory=list)
    top_k: int = 10

    @staticmethod
    def _metrics(rs: Sequence[QuestionResult], top_k: int) -> dict:
        n = len(rs)
        out: dict = {"n": n}
        for k in KS:
            out[f"hit@{k}"] = round(sum(1 for r in rs if r.rank and r.rank <= k) / n, 4) if n else 0.0
        out["mrr@10"] = round(sum(1 / r.rank for r in rs if r.rank and r.rank <= 10) / n, 4) if n else 0.0
        # Gold ids can be incomplete: an archive holds the same story in several places
        # (RGB-zh's int questions list only their own passages as gold, while passages of
        # its refine questions carry the same facts). "answer@k" counts a question when
        # the top-k passages hold every answer element, whichever document they come from.
        with_answer = [r for r in rs if r.question.answer not in (None, "", [])]
        for k in KS:
            m = len(with_answer)
            out[f"answer@{k}"] = round(sum(1 for r in with_answer if r.answer_rank and r.answer_rank <= k) / m, 4) if m else None
        return out

    def summary(self) -> dict:
        out = self._metrics(self.results, self.top_k)
        types = sorted({r.question.type for r in self.results if r.question.type})
        out["by_type"] = {t: self._metrics([r for r in self.results if r.question.type == t], self.top_k) for t in types}
        lat = sorted(r.latency_ms for r in self.results)
        out["latency_ms"] = {
            "p50": round(statistics.median(lat), 1) if lat else 0.0,
            "p95": round(lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))], 1) if lat else 0.0,
        }
        return out

    def hit_curve(self, max_k: int = 10) -> list[float]:
        n = len(self.results) or 1
        return [sum(1 for r in self.results if r.rank and r.rank <= k) / n for k in range(1, max_k + 1)]


def load_questions(path: Path) -> list[Question]:
    """Read a question file: one JSON object per line with id, question, answer, source_doc_ids.

    Raises:
        InputError: the file is missing, or a line is malformed (named by line number).
    """
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read question file {path}: {exc}", zh=f"无法读取问题文件 {path}：请检查路径，文件须为 UTF-8") from exc
    out: list[Question] = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            q = str(obj["question"]).strip()
            gold = obj.get("source_doc_ids") or []
            if not q or not isinstance(gold, list):
                raise ValueError("empty question or source_doc_ids is not a list")
            out.append(Question(str(obj.get("id", n)), q, obj.get("answer"), frozenset(map(str, gold)), str(obj.get("type") or "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{path}:{n}: not a question line ({exc}); expected id, question, answer, source_doc_ids",
                zh=f"{path} 第 {n} 行不是问题记录：每行应是含 id、question、answer、source_doc_ids 的 JSON",
            ) from exc
    if not out:
        raise InputError(f"{path} holds no questions", zh=f"{path} 里没有问题")
    return out


def split_questions(questions: list[Question], split: str) -> list[Question]:
    """``test`` is every 4th question (positions 4, 8, 12, … counted from 1); ``dev`` the rest."""
    if split == "all":
        return questions
    if split == "test":
        return [q for i, q in enumerate(questions, 1) if i % 4 == 0]
    if split == "dev":
        return [q for i, q in enumerate(questions, 1) if i % 4 != 0]
    raise InputError(f"split must be all, dev or test, got {split!r}", zh=f"--split 只能是 all、dev 或 test，{split!r} 不行")


def evaluate(
    search: Callable[[str, int], list[Hit]],
    questions: Sequence[Question],
    top_k: int = 10,
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Run every question through ``search(question, top_k)`` and record where gold appears.

    One untimed warm-up query runs first, so latency figures are warm.
    """
    if questions:
        search(questions[0].question, top_k)
    res = EvalResult(top_k=top_k)
    for q in questions:
        t0 = time.perf_counter()
        hits = search(q.question, top_k)
        ms = (time.perf_counter() - t0) * 1000
        found = [h.source_id for h in hits]
        rank = next((i for i, s in enumerate(found, 1) if s in q.gold), None)
        res.results.append(QuestionResult(q, found, [h.title or h.text[:30] for h in hits], rank, ms,
                                          answer_rank(q.answer, [h.text for h in hits])))
        if progress:
            progress(1)
    return res


def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def write_report(result: EvalResult, folder: Path, title: str = "newsrag retrieval evaluation",
                 answers: dict | None = None) -> Path:
    """Write ``report.md`` (scores + a per-question table), ``hit_at_k.png``, ``summary.json``
    and, given ``evaluate_answers``' result, ``answers.jsonl`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    s = result.summary()
    if answers is not None:
        s["answers"] = answers_summary(answers)
        write_answers(answers, folder)
    curve = result.hit_curve(10)
    png = folder / "hit_at_k.png"
    _plot(curve, png)
    lines = [
        f"# {title}",
        "",
        f"{s['n']} questions, top {result.top_k}.",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {s[k]} |" for k in ("hit@1", "hit@5", "hit@10", "mrr@10")],
        *[f"| {k} (answer text in top k, any document) | {s[k]} |" for k in ("answer@1", "answer@5", "answer@10") if s[k] is not None],
        f"| latency p50 / p95 (ms) | {s['latency_ms']['p50']} / {s['latency_ms']['p95']} |",
        "",
    ]
    if answers is not None:
        a = s["answers"]
        lines += ["| answers | value |", "|---|---|",
                  *[f"| {k} | {a[k]} |" for k in ("accuracy", "refused", "answers_with_citation", "answers_citing_gold",
                                                  "refusal_without_gold") if k in a],
                  f"| first token / total p50 (ms) | {a['latency_ms']['first_token_p50']} / {a['latency_ms']['total_p50']} |", ""]
    if s["by_type"]:
        lines += ["| type | n | hit@1 | hit@5 | hit@10 | mrr@10 | answer@5 |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {t} | {m['n']} | {m['hit@1']} | {m['hit@5']} | {m['hit@10']} | {m['mrr@10']} | {m['answer@5']} |"
                  for t, m in s["by_type"].items()]
        lines.append("")
    lines += [f"![hit@k for k = 1..10]({png.name})", "", "## Per question", ""]
    lines += ["| # | question | gold | found (top 3) | rank | answer rank |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(result.results, 1):
        gold = ", ".join(sorted(r.question.gold)[:3]) + (" …" if len(r.question.gold) > 3 else "")
        found = "; ".join(f"{sid} {_md_escape(t)[:24]}" for sid, t in list(zip(r.found, r.titles))[:3])
        rank = r.rank if r.rank else "**miss**"
        lines.append(f"| {i} | {_md_escape(r.question.question)} | {gold} | {_md_escape(found)} | {rank} | {r.answer_rank or '—'} |")
    out = folder / "report.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(s, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def write_answers(answers: dict, folder: Path) -> Path:
    """``answers.jsonl``: one line per question of ``evaluate_answers``' rows (the only writer of it)."""
    path = Path(folder) / "answers.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in answers["rows"]), encoding="utf-8")
    return path


def _plot(curve: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ks = list(range(1, len(curve) + 1))
    ax.plot(ks, curve, marker="o")
    for k, v in zip(ks, curve):
        ax.annotate(f"{v:.2f}", (k, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xlabel("k")
    ax.set_ylabel("hit@k")
    ax.set_xticks(ks)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.set_title("hit@k")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --- answer quality --------------------------------------------------------------------------

_QUOTES = str.maketrans({"“": "", "”": "", "‘": "", "’": "", '"': "", "'": "", "「": "", "」": "", "《": "", "》": ""})


def _norm_answer(text: str) -> str:
    from rag.text import normalize

    return "".join(normalize(text).translate(_QUOTES).split())


def answer_rank(gold: object, passages: Sequence[str]) -> int | None:
    """The smallest k at which ``passages[:k]`` together hold every element of ``gold``
    (each element, or one of its alternatives, inside one passage); None if never."""
    elements = gold if isinstance(gold, list) else [gold]
    if not elements or gold in (None, ""):
        return None
    normed = [_norm_answer(p) for p in passages]
    worst = 0
    for el in elements:
        options = [_norm_answer(str(o)) for o in (el if isinstance(el, list) else [el]) if str(o).strip()]
        first = next((i for i, text in enumerate(normed, 1) if any(o in text for o in options)), None)
        if first is None:
            return None
        worst = max(worst, first)
    return worst


def answer_matches(answer: str, gold: object) -> bool:
    """The RGB rule: every element of ``gold`` appears in the answer; an element that is
    itself a list is satisfied by any one of its alternatives. Quotes, spaces, case,
    full-width forms and traditional characters are normalised first."""
    return answer_rank(gold, [answer]) == 1


def evaluate_answers(chain, questions: Sequence[Question], remove_gold: bool = True,
                     progress: Callable[[int], None] | None = None) -> dict:
    """Answer quality on a question set (see ``answer_matches``).

    Returns accuracy, the share of answers citing a gold passage, the refusal
    rate when the gold passages are removed from the results (the honest
    answer then is a refusal), and first-token / total latency medians.
    """
    rows = []
    for q in questions:
        a = chain.ask(q.question)
        row = {
            "id": q.id,
            "question": q.question,
            "expected": q.answer,
            "answer": a.text,
            "refused": a.refused,
            "correct": (not a.refused) and answer_matches(a.text, q.answer),
            "cited": bool(a.citations),
            "cites_gold": any(c.source_id in q.gold for c in a.citations),
            # both counted by the chain from the moment the question arrived
            "first_token_ms": a.timings_ms.get("first_token_ms", 0.0),
            "total_ms": a.timings_ms.get("total_ms", 0.0),
        }
        if remove_gold:
            b = chain.ask(q.question, exclude_sources=q.gold)
            row["refused_without_gold"] = b.refused
            row["answer_without_gold"] = b.text
        rows.append(row)
        if progress:
            progress(1)
    n = len(rows) or 1
    answered = [r for r in rows if not r["refused"]] or [{}]
    out = {
        "n": len(rows),
        "accuracy": round(sum(r["correct"] for r in rows) / n, 4),
        "refused": round(sum(r["refused"] for r in rows) / n, 4),
        "answers_with_citation": round(sum(r.get("cited", False) for r in answered) / len(answered), 4),
        "answers_citing_gold": round(sum(r.get("cites_gold", False) for r in answered) / len(answered), 4),
        "latency_ms": {
            "first_token_p50": round(statistics.median(r["first_token_ms"] for r in rows), 1) if rows else 0.0,
            "total_p50": round(statistics.median(r["total_ms"] for r in rows), 1) if rows else 0.0,
        },
        "rows": rows,
    }
    if remove_gold:
        out["refusal_without_gold"] = round(sum(r["refused_without_gold"] for r in rows) / n, 4)
    return out


def answers_summary(answers: dict) -> dict:
    """``evaluate_answers``' scores without its per-question rows."""
    return {k: v for k, v in answers.items() if k != "rows"}


def question_rows(result: EvalResult, answers: dict | None = None, pass_rank: int = 5) -> list[dict]:
    """One row per question for people to read: question, expected answer, the answer (when
    generated), the rank of the first gold passage, and whether it passed: the answer is
    right when answers were generated, else a gold passage is in the top ``pass_rank``."""
    by_id = {r["id"]: r for r in (answers or {}).get("rows", [])}
    out = []
    for r in result.results:
        a = by_id.get(r.question.id)
        passed = a["correct"] if a is not None else bool(r.rank and r.rank <= pass_rank)
        out.append({"question": r.question.question, "expected": _gold_text(r.question.answer),
                    "answer": a["answer"] if a else "", "rank": r.rank, "passed": passed})
    return out


def _gold_text(gold: object) -> str:
    if isinstance(gold, list):
        return " / ".join(_gold_text(g) for g in gold)
    return "" if gold is None else str(gold)


def summary_lines(summary: dict, label: str = "") -> list[str]:
    """The scores as lines, Chinese label first (what the CLI prints and the app shows).

    ``summary`` is ``EvalResult.summary()``, with ``answers`` (``answers_summary``) when
    answers were generated.
    """
    s = summary
    lines = [f"问题 questions: {s['n']}" + (f"（{label}）" if label else ""),
             f"命中 hit@1 / hit@5 / hit@10: {s['hit@1']:.3f} / {s['hit@5']:.3f} / {s['hit@10']:.3f} · MRR@10 {s['mrr@10']:.3f}"]
    if s.get("answer@5") is not None:
        lines.append(f"前k条含答案 answer text in top 1/5/10 (any document): "
                     f"{s['answer@1']:.3f} / {s['answer@5']:.3f} / {s['answer@10']:.3f}")
    for t, m in s.get("by_type", {}).items():
        extra = f" answer@5={m['answer@5']:.3f}" if m.get("answer@5") is not None else ""
        lines.append(f"类型 {t}: n={m['n']} hit@5={m['hit@5']:.3f} mrr@10={m['mrr@10']:.3f}{extra}")
    lines.append(f"检索延迟 retrieval latency p50 {s['latency_ms']['p50']} ms, p95 {s['latency_ms']['p95']} ms")
    if a := s.get("answers"):
        line = (f"回答 answers: 正确率 accuracy {a['accuracy']:.3f} · 拒答 refused {a['refused']:.3f} · "
                f"有出处 with citation {a['answers_with_citation']:.3f} · 引用标准来源 citing gold {a['answers_citing_gold']:.3f}")
        if "refusal_without_gold" in a:
            line += f" · 去掉标准来源后拒答 refusal without gold {a['refusal_without_gold']:.3f}"
        lines.append(line)
        lines.append(f"回答耗时 first token p50 {a['latency_ms']['first_token_p50']} ms, total p50 {a['latency_ms']['total_p50']} ms")
    return lines
