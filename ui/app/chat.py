"""问答 (residents): ask in a chat with date and page filters, rate an answer, add a comment."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from rag.conversation import Turn
from rag.errors import NewsragError
from rag.records import Answer
from ui.app.common import ALL_PAGES, LLM_QUEUE, AppContext, esc, form_filters, page_choices, user_error
from ui.app.services import AppServices
from ui.app.views import answer_id, render_answer

__all__ = ["ChatTab", "build"]


class ChatTab:
    """The handlers behind the 问答 tab."""

    def __init__(self, services: AppServices) -> None:
        self.s = services

    def page_choices(self) -> list[str]:
        """The page filter's options, from the keyword index (no scan of the vector store)."""
        return page_choices(self.s.archive)

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

    def respond(self, message: str, chat: list, turns: list, date_from: str, date_to: str, page: str) -> Iterator[tuple]:
        """Stream an answer into the chat. Yields (chat messages, turns, cleared input)."""
        question = (message or "").strip()
        history = [Turn(t["question"], t["answer"]) for t in turns if not t.get("refused")]
        try:  # the library checks the question and the filters, and retrieves, before a bubble appears
            pieces = self.s.chain.stream(question, history=history, filters=form_filters(date_from, date_to, page))
        except NewsragError as exc:
            raise user_error(exc) from None
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
            raise user_error(exc) from None
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


def _provisional(text: str) -> str:
    return esc(text) + " ▍"


def build(ctx: AppContext) -> None:
    """The 问答 tab; its page filter follows the archive."""
    tab = ChatTab(ctx.services)
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
                examples = tab.example_questions()
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=[question], label="可以这样问")
                with gr.Row():
                    comment = gr.Textbox(label="补充意见（可选，点赞或点踩后填写）", scale=4, elem_id="nr-comment")
                    send_comment = gr.Button("提交意见", scale=1)
                feedback_status = gr.Markdown("", elem_id="nr-feedback-status")
            with gr.Column(scale=1, min_width=200):
                c_from = gr.Textbox(label="开始日期", placeholder="2023-12-01")
                c_to = gr.Textbox(label="结束日期", placeholder="2023-12-31")
                c_page = gr.Dropdown(tab.page_choices(), value=ALL_PAGES, label="版面")
                clear = gr.Button("清空对话", variant="secondary")
        question.submit(tab.respond, [question, chatbot, turns, c_from, c_to, c_page], [chatbot, turns, question],
                        concurrency_id=LLM_QUEUE, concurrency_limit=1, api_visibility="private")
        chatbot.like(tab.rate, [turns], [feedback_status, rated], api_visibility="private")
        send_comment.click(tab.comment, [comment, rated], [feedback_status, comment], api_visibility="private")
        clear.click(lambda: ([], [], None, ""), None, [chatbot, turns, rated, feedback_status], api_visibility="private")
        chatbot.clear(lambda: ([], None, ""), None, [turns, rated, feedback_status], api_visibility="private")
    ctx.follows_archive(tab.page_filter, c_page)
