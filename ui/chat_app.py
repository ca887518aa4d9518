"""The Gradio app: 问答 (residents), 检索 (reporters), 质量评测 (staff), 档案管理 (admins).

``AppServices`` holds what the app needs, built from Settings by ``open_services``
or passed in by tests. The handlers are plain methods of ``NewsragApp`` so they can
be tested without a browser; ``build_app`` only wires them to components.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ingest import Upload, ingest_uploads
from ingest.page_images import PageImages
from ingest.readers.ocr import OcrEngine, RapidOcr
from ingest.uploads import REPLACED, delete_issue
from rag.answering import AnswerChain
from rag.archive import Archive
from rag.conversation import Turn
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
from rag.records import Answer
from rag.retrieval import SearchFilters
from rag.settings import Settings
from ui.admin import AdminLogin
from ui.feedback import FeedbackLog
from ui.views import CSS, answer_id, highlight_terms, render_answer, render_article, snippet

__all__ = ["AppServices", "NewsragApp", "open_services", "build_app", "LLM_QUEUE"]

log = logging.getLogger(__name__)

# The local model runs one generation at a time on 2 cores: every event that calls it
# shares this concurrency group with limit 1, and the queue shows the others their place.
LLM_QUEUE = "llm"
MAX_QUALITY_QUESTIONS = 500
ALL_PAGES = "全部版面"


@dataclass
class AppServices:
    """Everything the app uses; passed in, so tests can give fakes."""

    chain: AnswerChain
    feedback: FeedbackLog
    library: Path
    admin: tuple[str, str] | None = None
    ingest_lock: threading.Lock = field(default_factory=threading.Lock)
    # served beyond this machine (serve --host other than loopback): without an admin login
    # the quality tab and the feedback log are then closed, not open to anyone
    exposed: bool = False
    images: PageImages | None = None  # page images of PDF and scanned pages (under NEWSRAG_HOME/pages)
    ocr: OcrEngine = field(default_factory=RapidOcr)

    def __post_init__(self) -> None:
        self.login = AdminLogin(*self.admin) if self.admin else None

    @property
    def archive(self) -> Archive:
        return self.chain.retriever.archive

    def image_url(self, ref: str) -> str | None:
        """Where the app serves a page image (only files of the page-image folder)."""
        path = self.images.path(ref) if self.images is not None else None
        return f"/gradio_api/file={path}" if path is not None and path.is_file() else None


def open_services(settings: Settings) -> AppServices:
    """The product's services: the configured retriever, chat model and feedback log."""
    chain = AnswerChain.from_settings(settings)
    admin = None
    if settings.admin_user and settings.admin_password:
        admin = (settings.admin_user, settings.admin_password)
    return AppServices(
        chain=chain,
        feedback=FeedbackLog(settings.home / "feedback.jsonl"),
        library=settings.home / "library",
        admin=admin,
        images=PageImages(settings.home),
    )


def _user_error(exc: Exception) -> gr.Error:
    if isinstance(exc, NewsragError):
        return gr.Error(exc.for_user())
    return gr.Error(f"出错了，请稍后再试 ({type(exc).__name__})")


def _filters(date_from: str, date_to: str, page: str | int | None) -> SearchFilters:
    """Filters from the form (the page as the dropdown shows it, 第N版, or a number; 0 or
    全部版面 for all); the library validates them and names the field that is wrong."""
    page_no = None
    if page and page != ALL_PAGES:
        page_no = int(str(page).removeprefix("第").removesuffix("版"))
    return SearchFilters((date_from or "").strip() or None, (date_to or "").strip() or None, None, page_no)


class NewsragApp:
    """The handlers behind every button of the app."""

    def __init__(self, services: AppServices) -> None:
        self.s = services

    # --- what the archive holds -----------------------------------------------------

    def page_choices(self) -> list[str]:
        """The page filter's options, from the keyword index (no scan of the vector store)."""
        return [ALL_PAGES] + [f"第{p}版" for p in self.s.archive.pages()]

    def page_filter(self) -> dict:
        """The page filter refreshed: on each visit, and after an upload or a deletion."""
        return gr.update(choices=self.page_choices())

    def example_questions(self, n: int = 4) -> list[str]:
        """Questions about articles the archive really holds, front pages first."""
        out = []
        for a in self.s.archive.catalogue.first_articles(20 * n):
            title = (a.title or a.headline or "").strip()
            if title and len(title) <= 30:
                out.append(f"“{title}”说的是什么？")
            if len(out) >= n:
                break
        return out

    # --- chat -----------------------------------------------------------------------

    def respond(self, message: str, chat: list, turns: list, date_from: str, date_to: str, page: str) -> Iterator[tuple]:
        """Stream an answer into the chat. Yields (chat messages, turns, cleared input)."""
        question = (message or "").strip()
        history = [Turn(t["question"], t["answer"]) for t in turns if not t.get("refused")]
        try:  # the library checks the question and the filters, and retrieves, before a bubble appears
            pieces = self.s.chain.stream(question, history=history, filters=_filters(date_from, date_to, page))
        except NewsragError as exc:
            raise _user_error(exc) from None
        chat = list(chat) + [{"role": "user", "content": question}, {"role": "assistant", "content": "……"}]
        yield list(chat), turns, ""
        streamed = ""
        answer: Answer | None = None
        try:
            for item in pieces:
                if isinstance(item, Answer):
                    answer = item
                    break
                streamed += item
                chat[-1] = {"role": "assistant", "content": _provisional(streamed)}
                yield list(chat), turns, ""
        except NewsragError as exc:
            chat[-1] = {"role": "assistant", "content": f"⚠ {exc.for_user()}"}
            yield list(chat), turns, ""
            raise _user_error(exc) from None
        assert answer is not None
        chat[-1] = {"role": "assistant", "content": render_answer(answer, self.s.image_url)}
        turns = list(turns) + [{
            "answer_id": answer_id(answer),
            "question": question,
            "answer": answer.text,
            "refused": answer.refused,
            "citations": [c.to_dict() for c in answer.citations],
        }]
        yield list(chat), turns, ""

    def rate(self, data: gr.LikeData, turns: list) -> tuple[str, dict | None]:
        """Log a thumbs up/down for the answer at the rated message; returns (status, rated turn)."""
        idx = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn_no = (int(idx) - 1) // 2
        if data.liked is None or not 0 <= turn_no < len(turns):
            return "", None
        t = turns[turn_no]
        rating = "up" if data.liked else "down"
        self.s.feedback.append(answer_id=t["answer_id"], question=t["question"], answer=t["answer"],
                               citations=t["citations"], rating=rating)
        return f"已记录你的{'赞' if rating == 'up' else '踩'}。可以在下面补充意见。", {**t, "rating": rating}

    def comment(self, text: str, rated: dict | None) -> tuple[str, str]:
        if not rated:
            return "请先在要评价的回答下点赞或点踩。", text
        if not (text or "").strip():
            return "意见是空的。", text
        self.s.feedback.append(answer_id=rated["answer_id"], question=rated["question"], answer=rated["answer"],
                               citations=rated["citations"], rating=rated["rating"], comment=text)
        return "谢谢，意见已记录。", ""

    # --- search ---------------------------------------------------------------------

    def search(self, query: str, date_from: str, date_to: str, page: str, top_k: float) -> tuple[list[list[str]], list[dict], str]:
        """A table of articles (one row each), the row data, and a status line."""
        try:
            hits = self.s.chain.retriever.search(query, int(top_k) * 2, _filters(date_from, date_to, page))
        except NewsragError as exc:
            raise _user_error(exc) from None
        rows, data, seen = [], [], set()
        for h in hits:
            if h.article_id in seen:
                continue
            seen.add(h.article_id)
            rows.append([h.date.label_zh(h.issue), f"第{h.page}版" if h.page else "版次不详",
                         highlight_terms(h.title or h.headline or "（无标题）", query), _esc(h.byline), snippet(h.text, query)])
            data.append({"article_id": h.article_id, "query": query})
            if len(rows) >= int(top_k):
                break
        return rows, data, f"找到 {len(rows)} 篇相关文章。点击一行查看全文。" if rows else "没有找到相关文章。"

    def open_article(self, evt: gr.SelectData, data: list[dict]) -> str:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not data or not 0 <= int(row) < len(data):
            return ""
        parts = self.s.archive.story(data[int(row)]["article_id"])
        if not parts:
            return "<p>这篇文章已不在档案中。</p>"
        return "".join(render_article(hit, text, data[int(row)]["query"]) for hit, text in parts)

    # --- quality --------------------------------------------------------------------

    def run_quality(self, authed: str, upload: str | None, path: str, with_answers: bool, progress=gr.Progress()) -> tuple:  # noqa: B008 (how Gradio injects progress)
        """Run a question file through ``rag.evaluation``: table rows, scores (Markdown), a zipped report."""
        self._require_staff(authed)
        src = Path(upload) if upload else Path((path or "").strip()) if (path or "").strip() else None
        if src is None:
            raise gr.Error("请上传问题文件，或填写服务器上的路径。")
        if src.suffix.lower() != ".jsonl":
            raise gr.Error(f"问题文件应是 .jsonl（每行一个问题）：{src.name}")
        try:
            questions = load_questions(src)
        except NewsragError as exc:
            raise _user_error(exc) from None
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
        return rows, "  \n".join(_esc(line) for line in summary_lines(summary)), archive

    def feedback_rows(self, authed: str) -> list[list[str]]:
        self._require_staff(authed)
        return [[r.get("time", ""), r.get("rating", ""), r.get("question", ""), r.get("answer", ""), r.get("comment", "")]
                for r in self.s.feedback.read()]

    # --- admin ----------------------------------------------------------------------

    def login(self, user: str, password: str, request: gr.Request | None = None) -> tuple[str, Any, Any, str]:
        """A session token for the admin tab (kept in this browser session's state), or "" and why not."""
        if self.s.login is None:
            return "", gr.update(visible=False), gr.update(visible=True), "管理功能未开启。"
        client = getattr(getattr(request, "client", None), "host", None) or "local"
        res = self.s.login.login(user, password, client)
        if not res.token:
            return "", gr.update(visible=False), gr.update(visible=True), res.message
        return res.token, gr.update(visible=True), gr.update(visible=False), res.message

    def logout(self, authed: str) -> tuple[str, Any, Any, str]:
        if self.s.login is not None:
            self.s.login.logout(authed)
        return "", gr.update(visible=False), gr.update(visible=True), "已退出登录。"

    def _signed_in(self, authed: object) -> bool:
        return self.s.login is not None and self.s.login.valid(authed)

    def _require_admin(self, authed: str) -> None:
        if not self._signed_in(authed):
            raise gr.Error("请先登录管理账号（登录超过一小时需重新登录）。")

    def _require_staff(self, authed: str) -> None:
        """Quality runs (which read a path on the server and occupy the model) and the
        feedback log (residents' questions) need the admin login once one is configured.
        Without one the app is a single-user local tool and they stay open, unless it is
        served beyond this machine: then they are closed."""
        if self.s.login is not None and not self._signed_in(authed):
            raise gr.Error("质量评测和用户反馈仅限管理账号：请先在「档案管理」页登录。")
        if self.s.login is None and self.s.exposed:
            raise gr.Error("本服务对外开放且未设置管理账号，质量评测和用户反馈已关闭："
                           "请设置 NEWSRAG_ADMIN_USER 和 NEWSRAG_ADMIN_PASSWORD 后重启。")

    def upload(self, authed: str, files: list | None, paper: str, date: str, issue: str = "", not_before: str = "",
               not_after: str = "", progress=gr.Progress()) -> tuple:  # noqa: B008 (how Gradio injects progress)
        """Ingest uploaded files as one issue: its date, or its name when the date is unknown."""
        self._require_admin(authed)
        if not files:
            raise gr.Error("请先选择要上传的文件。")
        uploads = [Upload(name=Path(f).name, path=Path(f)) for f in files]

        def bar(done: int, total: int) -> None:
            progress(done / max(total, 1), desc=f"嵌入 {done}/{total}")

        with self.s.ingest_lock:
            try:
                res = ingest_uploads(uploads, paper=paper, date=date, issue=issue, date_not_before=not_before,
                                     date_not_after=not_after, library=self.s.library, store=self.s.archive,
                                     embedder=self.s.chain.retriever.embedder, progress=bar,
                                     images=self.s.images, ocr=self.s.ocr)
            except NewsragError as exc:
                raise _user_error(exc) from None
        rows = [[name, outcome] for name, outcome in res.files.items()]
        rep = res.report
        replaced = sum(1 for v in res.files.values() if v.startswith(REPLACED))
        status = (f"导入完成：{res.ingested} 个文件已导入，{len(res.files) - res.ingested} 个未导入；"
                  + (f"其中 {replaced} 个替换了同一期已有的版面；" if replaced else "")
                  + f"新增 {rep.chunks_added} 个片段，未变 {rep.chunks_unchanged}，移除 {rep.chunks_removed}。"
                  + (f"期次：{_esc(res.issue)}。" if res.issue else ""))
        return rows, status, *self.issue_table(authed)

    def issue_table(self, authed: str, **choice) -> tuple[list[list], dict]:
        """The issues table and the matching choices of the delete dropdown (one scan of the archive)."""
        self._require_admin(authed)
        issues = self.s.archive.issues()
        rows = [[i.key, i.paper, i.date.label_zh(i.issue), "、".join(map(str, i.pages)) or "—", i.articles, i.chunks] for i in issues]
        return rows, gr.update(choices=[i.key for i in issues], **choice)

    def delete_issue(self, authed: str, key: str, confirm: bool) -> tuple:
        self._require_admin(authed)
        if not key:
            raise gr.Error("请先选择要删除的期次。")
        if not confirm:
            raise gr.Error("请勾选“确认删除”。删除后需要重新导入才能恢复。")
        with self.s.ingest_lock:
            gone = delete_issue(self.s.archive, self.s.library, key)
        if gone is None:
            raise gr.Error(f"档案里没有这一期：{key}")
        return f"已删除 {gone.issue.label_zh()}：{gone.chunks} 个片段。", *self.issue_table(authed, value=None), False

    # --- API ------------------------------------------------------------------------

    def ask_api(self, question: str, date_from: str = "", date_to: str = "", page: int = 0) -> dict:
        """Answer one question; returns the same JSON as `newsrag ask --json`.

        Args:
            question: the question, in Chinese or English.
            date_from: earliest issue date (YYYY-MM-DD) or empty.
            date_to: latest issue date or empty.
            page: only this page (1 = front page); 0 for all pages.
        """
        try:
            return self.s.chain.ask(question, filters=_filters(date_from, date_to, page)).to_dict()
        except NewsragError as exc:
            raise _user_error(exc) from None

    def search_api(self, query: str, top_k: int = 5, date_from: str = "", date_to: str = "", page: int = 0) -> list[dict]:
        """Search the archive; returns the same JSON as `newsrag search --json`."""
        try:
            filters = _filters(date_from, date_to, page)
            return [h.to_dict() for h in self.s.chain.retriever.search(query, int(top_k), filters)]
        except NewsragError as exc:
            raise _user_error(exc) from None


def _esc(s: str) -> str:
    from html import escape

    return escape(s or "")


def _provisional(text: str) -> str:
    return _esc(text) + " ▍"


def build_app(services: AppServices) -> gr.Blocks:
    """The whole app, wired. Launch with ``launch_app`` (it sets the queue and CSS)."""
    app = NewsragApp(services)
    pages = app.page_choices()
    with gr.Blocks(title="newsrag 报纸档案问答") as demo:
        authed = gr.State("")  # this session's admin token (档案管理 tab), also required by 质量评测
        gr.Markdown("## 报纸档案问答\n每个回答都注明出自哪份报纸、哪一期、第几版、哪篇文章。")
        with gr.Tab("问答", id="chat"):
            turns = gr.State([])
            rated = gr.State(None)
            with gr.Row(equal_height=False):
                with gr.Column(scale=4, min_width=300):
                    chatbot = gr.Chatbot(label="对话", height=520, elem_id="nr-chat", feedback_options=("Like", "Dislike"),
                                         placeholder="问一个关于本地政策或新闻的问题，例如某项活动哪天开始。",
                                         sanitize_html=True, buttons=["copy"])
                    with gr.Row():
                        question = gr.Textbox(label="你的问题", placeholder="输入问题后按回车", scale=5, elem_id="nr-question",
                                              max_lines=4, submit_btn="提问")
                    examples = app.example_questions()
                    if examples:
                        gr.Examples(examples=[[e] for e in examples], inputs=[question], label="可以这样问")
                    with gr.Row():
                        comment = gr.Textbox(label="补充意见（可选，点赞或点踩后填写）", scale=4, elem_id="nr-comment")
                        send_comment = gr.Button("提交意见", scale=1)
                    feedback_status = gr.Markdown("", elem_id="nr-feedback-status")
                with gr.Column(scale=1, min_width=200):
                    c_from = gr.Textbox(label="开始日期", placeholder="2023-12-01")
                    c_to = gr.Textbox(label="结束日期", placeholder="2023-12-31")
                    c_page = gr.Dropdown(pages, value=ALL_PAGES, label="版面")
                    clear = gr.Button("清空对话", variant="secondary")
            question.submit(app.respond, [question, chatbot, turns, c_from, c_to, c_page], [chatbot, turns, question],
                            concurrency_id=LLM_QUEUE, concurrency_limit=1, api_visibility="private")
            chatbot.like(app.rate, [turns], [feedback_status, rated], api_visibility="private")
            send_comment.click(app.comment, [comment, rated], [feedback_status, comment], api_visibility="private")
            clear.click(lambda: ([], [], None, ""), None, [chatbot, turns, rated, feedback_status], api_visibility="private")
            chatbot.clear(lambda: ([], None, ""), None, [turns, rated, feedback_status], api_visibility="private")

        with gr.Tab("检索", id="search"):
            hits_state = gr.State([])
            with gr.Row():
                s_query = gr.Textbox(label="检索词", placeholder="人名、地名、事件或原话", scale=4, elem_id="nr-search-query")
                s_go = gr.Button("检索", variant="primary", scale=1, elem_id="nr-search-go")
            with gr.Row():
                s_from = gr.Textbox(label="开始日期", placeholder="2023-12-01")
                s_to = gr.Textbox(label="结束日期", placeholder="2023-12-31")
                s_page = gr.Dropdown(pages, value=ALL_PAGES, label="版面")
                s_k = gr.Slider(1, 50, value=10, step=1, label="最多显示几篇")
            s_status = gr.Markdown("")
            s_table = gr.Dataframe(headers=["日期", "版次", "标题", "作者", "摘要"], datatype=["str", "str", "html", "str", "html"],
                                   interactive=False, wrap=True, elem_id="nr-search-results",
                                   column_widths=["16%", "8%", "30%", "10%", "36%"])
            s_article = gr.HTML(elem_id="nr-article")
            gr.on([s_go.click, s_query.submit], app.search, [s_query, s_from, s_to, s_page, s_k], [s_table, hits_state, s_status],
                  api_name="ui_search", api_visibility="private")
            s_table.select(app.open_article, [hits_state], [s_article], api_visibility="private")

        with gr.Tab("质量评测", id="quality"):
            gr.Markdown("上传问题文件（与 `newsrag eval` 相同的 JSONL：id、question、answer、source_doc_ids），"
                        "查看每个问题的检索名次和回答是否通过。"
                        + ("\n\n本页仅限管理账号，请先在「档案管理」页登录。" if services.admin else ""))
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
            q_go.click(app.run_quality, [authed, q_file, q_path, q_answers], [q_table, q_scores, q_report],
                       concurrency_id=LLM_QUEUE, concurrency_limit=1, api_visibility="private")
            gr.Markdown("### 用户反馈")
            f_refresh = gr.Button("刷新反馈")
            f_table = gr.Dataframe(headers=["时间", "评价", "问题", "回答", "意见"], interactive=False, wrap=True)
            f_refresh.click(app.feedback_rows, [authed], [f_table], api_visibility="private")

        with gr.Tab("档案管理", id="admin", visible=services.admin is not None):
            with gr.Column(visible=True) as login_box:
                a_user = gr.Textbox(label="管理员用户名")
                a_pass = gr.Textbox(label="密码", type="password")
                a_login = gr.Button("登录", variant="primary")
            a_msg = gr.Markdown("")
            with gr.Column(visible=False) as admin_box:
                a_logout = gr.Button("退出登录", size="sm")
                gr.Markdown("上传版面（.txt 文字版、.pdf 电子版、扫描图片 .png/.jpg/.tif；文件名含版次，如 page-01.pdf、"
                            "第1版.txt；整期 PDF 可不含版次）或文章（.jsonl）。"
                            "同一期同一版再次上传会替换旧内容（结果显示“已替换”）。日期不详时请填写期号或名称，"
                            "以后补传这一期的其他版面时填同一个；不填则作为新的一期，不会覆盖其他期。")
                with gr.Row():
                    u_files = gr.File(label="文件", file_count="multiple", file_types=[".txt", ".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".jsonl"], type="filepath",
                                      elem_id="nr-upload")
                    with gr.Column():
                        u_paper = gr.Textbox(label="报名", placeholder="渝中报", elem_id="nr-upload-paper")
                        u_date = gr.Textbox(label="出版日期（不详可留空）", placeholder="2023-12-01", elem_id="nr-upload-date")
                        u_issue = gr.Textbox(label="期号或名称（日期不详时填写）", placeholder="第1234期", elem_id="nr-upload-issue")
                        with gr.Row():
                            u_nb = gr.Textbox(label="不早于（可选）", placeholder="2023-12-01", elem_id="nr-upload-not-before")
                            u_na = gr.Textbox(label="不晚于（可选）", placeholder="2023-12-31", elem_id="nr-upload-not-after")
                        u_go = gr.Button("导入", variant="primary", elem_id="nr-upload-go")
                u_status = gr.Markdown("", elem_id="nr-upload-status")
                u_table = gr.Dataframe(headers=["文件", "结果"], interactive=False, wrap=True, elem_id="nr-upload-results")
                gr.Markdown("### 档案中的期次")
                i_table = gr.Dataframe(headers=["编号", "报名", "日期", "版次", "文章数", "片段数"], interactive=False, wrap=True,
                                       elem_id="nr-issues")
                with gr.Row():
                    i_key = gr.Dropdown([], label="选择期次", allow_custom_value=False)
                    i_confirm = gr.Checkbox(label="确认删除", value=False)
                    i_delete = gr.Button("删除这一期", variant="stop")
                i_status = gr.Markdown("")
            a_login.click(app.login, [a_user, a_pass], [authed, admin_box, login_box, a_msg], api_visibility="private").then(
                lambda tok: app.issue_table(tok) if tok else (gr.skip(), gr.skip()),
                [authed], [i_table, i_key], api_visibility="private")
            a_logout.click(app.logout, [authed], [authed, admin_box, login_box, a_msg], api_visibility="private")
            u_go.click(app.upload, [authed, u_files, u_paper, u_date, u_issue, u_nb, u_na], [u_table, u_status, i_table, i_key],
                       concurrency_id="ingest", concurrency_limit=1, api_visibility="private").success(
                app.page_filter, None, c_page, api_visibility="private")
            i_delete.click(app.delete_issue, [authed, i_key, i_confirm], [i_status, i_table, i_key, i_confirm],
                           concurrency_id="ingest", concurrency_limit=1, api_visibility="private").success(
                app.page_filter, None, c_page, api_visibility="private")
        demo.load(app.page_filter, None, c_page, api_visibility="private")

        gr.api(app.ask_api, api_name="ask", concurrency_id=LLM_QUEUE, concurrency_limit=1)
        gr.api(app.search_api, api_name="search")
    return demo


def launch_app(services: AppServices, host: str = "127.0.0.1", port: int = 7860, queue_size: int = 32, **kwargs) -> None:
    """Serve the app. Blocks until stopped (``prevent_thread_lock=True`` in kwargs returns)."""
    demo = build_app(services)
    demo.queue(max_size=queue_size, default_concurrency_limit=4)
    allowed = [str(services.images.root)] if services.images is not None else []
    if services.images is not None:
        services.images.root.mkdir(parents=True, exist_ok=True)
    demo.launch(server_name=host, server_port=port, css=CSS, max_file_size="64mb", show_error=True, allowed_paths=allowed,
                footer_links=["api"], **kwargs)
