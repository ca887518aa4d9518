"""质量评测 and 用户反馈 (staff): run a question file through the evaluation, read the feedback log."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr

from rag.errors import NewsragError
from rag.evaluation import (
    answers_summary,
    evaluate,
    evaluate_answers,
    load_questions,
    question_rows,
    summary_lines,
    write_report,
)
from ui.app.common import LLM_QUEUE, AppContext, esc, require_staff, user_error
from ui.app.services import AppServices

__all__ = ["MAX_QUALITY_QUESTIONS", "QualityTab", "build"]

MAX_QUALITY_QUESTIONS = 500


class QualityTab:
    """The handlers behind the 质量评测 tab (and its 用户反馈 table)."""

    def __init__(self, services: AppServices) -> None:
        self.s = services

    def run_quality(self, authed: str, upload: str | None, path: str, with_answers: bool, progress=gr.Progress()) -> tuple:  # noqa: B008 (how Gradio injects progress)
        """Run a question file through ``rag.evaluation``: table rows, scores (Markdown), a zipped report."""
        require_staff(self.s, authed)
        src = Path(upload) if upload else Path((path or "").strip()) if (path or "").strip() else None
        if src is None:
            raise gr.Error("请上传问题文件，或填写服务器上的路径。")
        if src.suffix.lower() != ".jsonl":
            raise gr.Error(f"问题文件应是 .jsonl（每行一个问题）：{src.name}")
        try:
            questions = load_questions(src)
        except NewsragError as exc:
            raise user_error(exc) from None
        if len(questions) > MAX_QUALITY_QUESTIONS:
            raise gr.Error(f"问题太多（{len(questions)}），界面里一次最多 {MAX_QUALITY_QUESTIONS} 个；更多请用 `newsrag eval`。")
        progress(0, desc="检索中")
        result = evaluate(self.s.chain.retriever.search, questions, 10)
        answers = None
        if with_answers:
            done = [0]

            def step(n: int) -> None:
                done[0] += n
                progress(done[0] / len(questions), desc=f"生成回答 {done[0]}/{len(questions)}")

            answers = evaluate_answers(self.s.chain, questions, remove_gold=False, progress=step)
        summary = result.summary()
        if answers is not None:
            summary["answers"] = answers_summary(answers)
        folder = Path(tempfile.mkdtemp(prefix="newsrag-quality-"))
        write_report(result, folder, title=f"newsrag quality: {src.name}", answers=answers)
        archive = shutil.make_archive(str(folder), "zip", folder)
        rows = [[r["question"], r["expected"], r["answer"], r["rank"] or "", "通过" if r["passed"] else "未通过"]
                for r in question_rows(result, answers)]
        return rows, "  \n".join(esc(line) for line in summary_lines(summary)), archive

    def feedback_rows(self, authed: str) -> list[list[str]]:
        require_staff(self.s, authed)
        return [[r.get("time", ""), r.get("rating", ""), r.get("question", ""), r.get("answer", ""), r.get("comment", "")]
                for r in self.s.feedback.read()]


def build(ctx: AppContext) -> None:
    """The 质量评测 tab, with the 用户反馈 table below the evaluation."""
    tab = QualityTab(ctx.services)
    with gr.Tab("质量评测", id="quality"):
        gr.Markdown("上传问题文件（与 `newsrag eval` 相同的 JSONL：id、question、answer、source_doc_ids），"
                    "查看每个问题的检索名次和回答是否通过。"
                    + ("\n\n本页仅限管理账号，请先在「档案管理」页登录。" if ctx.services.admin else ""))
        with gr.Row():
            q_file = gr.File(label="问题文件 (.jsonl)", file_types=[".jsonl"], type="filepath")
            with gr.Column():
                q_path = gr.Textbox(label="或：服务器上的文件路径")
                q_answers = gr.Checkbox(label="同时生成回答（较慢，每题几秒）", value=False)
                q_go = gr.Button("运行评测", variant="primary")
        q_scores = gr.Markdown("")
        q_table = gr.Dataframe(headers=["问题", "期望答案", "回答", "命中名次", "结果"], interactive=False, wrap=True,
                               column_widths=["28%", "14%", "40%", "9%", "9%"])
        q_report = gr.File(label="下载报告 (zip)")
        q_go.click(tab.run_quality, [ctx.authed, q_file, q_path, q_answers], [q_table, q_scores, q_report],
                   concurrency_id=LLM_QUEUE, concurrency_limit=1, api_visibility="private")
        gr.Markdown("### 用户反馈")
        f_refresh = gr.Button("刷新反馈")
        f_table = gr.Dataframe(headers=["时间", "评价", "问题", "回答", "意见"], interactive=False, wrap=True)
        f_refresh.click(tab.feedback_rows, [ctx.authed], [f_table], api_visibility="private")
