"""档案管理 (admins): log in and out, upload pages or article files as one issue, list and delete issues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ingest import Upload, ingest_uploads
from ingest.uploads import FileOutcome, UploadOutcome, delete_issue
from rag.errors import NewsragError
from ui.app.common import AppContext, esc, require_admin, user_error
from ui.app.services import AppServices

__all__ = ["AdminTab", "build", "outcome_label"]

INGEST_QUEUE = "ingest"  # uploads and deletions, one at a time
OUTCOME_ZH = {UploadOutcome.IMPORTED: "已导入", UploadOutcome.REPLACED: "已替换", UploadOutcome.SKIPPED: "未导入"}


def outcome_label(f: FileOutcome) -> str:
    """What the upload table says of one file: 已导入, 已替换, or 未导入：why; with the articles
    an article file replaced and the lines left out of it (the first five)."""
    if f.outcome is UploadOutcome.SKIPPED:
        return f"{OUTCOME_ZH[f.outcome]}：{f.reason}"
    label = OUTCOME_ZH[f.outcome] + (f"（替换了 {f.replaced_articles} 篇已有文章）" if f.replaced_articles else "")
    if f.skipped_lines:
        label += (f"（跳过 {len(f.skipped_lines)} 行：" + "；".join(f"第{p.line}行 {p.reason}" for p in f.skipped_lines[:5])
                  + "）")
    if f.fell_back:
        label += "（注意：未识别出文章，已按版块整体导入）"
    return label


class AdminTab:
    """The handlers behind the 档案管理 tab."""

    def __init__(self, services: AppServices) -> None:
        self.s = services

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

    def upload(self, authed: str, files: list | None, paper: str, date: str, issue: str = "", not_before: str = "",
               not_after: str = "", progress=gr.Progress()) -> tuple:  # noqa: B008 (how Gradio injects progress)
        """Ingest uploaded files as one issue: its date, or its name when the date is unknown."""
        require_admin(self.s, authed)
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
                raise user_error(exc) from None
        rows = [[name, outcome_label(outcome)] for name, outcome in res.files.items()]
        rep = res.report
        status = (f"导入完成：{res.ingested} 个文件已导入，{len(res.files) - res.ingested} 个未导入；"
                  + (f"其中 {res.replaced} 个替换了同一期已有的版面；" if res.replaced else "")
                  + f"新增 {rep.chunks_added} 个片段，未变 {rep.chunks_unchanged}，移除 {rep.chunks_removed}。"
                  + (f"期次：{esc(res.issue)}。" if res.issue else ""))
        return rows, status, *self.issue_table(authed)

    def issue_table(self, authed: str, **choice) -> tuple[list[list], dict]:
        """The issues table and the matching choices of the delete dropdown (one scan of the archive)."""
        require_admin(self.s, authed)
        issues = self.s.archive.issues()
        rows = [[i.key, i.paper, i.date.label_zh(i.issue), "、".join(map(str, i.pages)) or "—", i.articles, i.chunks] for i in issues]
        return rows, gr.update(choices=[i.key for i in issues], **choice)

    def delete_issue(self, authed: str, key: str, confirm: bool) -> tuple:
        require_admin(self.s, authed)
        if not key:
            raise gr.Error("请先选择要删除的期次。")
        if not confirm:
            raise gr.Error("请勾选“确认删除”。删除后需要重新导入才能恢复。")
        with self.s.ingest_lock:
            gone = delete_issue(self.s.archive, self.s.library, key)
        if gone is None:
            raise gr.Error(f"档案里没有这一期：{key}")
        return f"已删除 {gone.issue.label_zh()}：{gone.chunks} 个片段。", *self.issue_table(authed, value=None), False


def build(ctx: AppContext) -> None:
    """The 档案管理 tab, shown only when an admin login is configured; uploads and deletions change the archive."""
    tab = AdminTab(ctx.services)
    authed = ctx.authed
    with gr.Tab("档案管理", id="admin", visible=ctx.services.admin is not None):
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
        a_login.click(tab.login, [a_user, a_pass], [authed, admin_box, login_box, a_msg], api_visibility="private").then(
            lambda tok: tab.issue_table(tok) if tok else (gr.skip(), gr.skip()),
            [authed], [i_table, i_key], api_visibility="private")
        a_logout.click(tab.logout, [authed], [authed, admin_box, login_box, a_msg], api_visibility="private")
        ctx.archive_changed(u_go.click(tab.upload, [authed, u_files, u_paper, u_date, u_issue, u_nb, u_na],
                                       [u_table, u_status, i_table, i_key],
                                       concurrency_id=INGEST_QUEUE, concurrency_limit=1, api_visibility="private"))
        ctx.archive_changed(i_delete.click(tab.delete_issue, [authed, i_key, i_confirm], [i_status, i_table, i_key, i_confirm],
                                           concurrency_id=INGEST_QUEUE, concurrency_limit=1, api_visibility="private"))
