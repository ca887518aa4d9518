"""The app's API for gradio_client: /ask and /search, the same JSON as `newsrag ask/search --json`."""

from __future__ import annotations

import gradio as gr

from rag.errors import NewsragError
from ui.app.common import LLM_QUEUE, AppContext, form_filters, user_error
from ui.app.services import AppServices

__all__ = ["ApiEndpoints", "build"]


class ApiEndpoints:
    """The handlers behind the two public endpoints (every other event of the app is private)."""

    def __init__(self, services: AppServices) -> None:
        self.s = services

    def ask_api(self, question: str, date_from: str = "", date_to: str = "", page: int = 0) -> dict:
        """Answer one question; returns the same JSON as `newsrag ask --json`.

        Args:
            question: the question, in Chinese or English.
            date_from: earliest issue date (YYYY-MM-DD) or empty.
            date_to: latest issue date or empty.
            page: only this page (1 = front page); 0 for all pages.
        """
        try:
            return self.s.chain.ask(question, filters=form_filters(date_from, date_to, page)).to_dict()
        except NewsragError as exc:
            raise user_error(exc) from None

    def search_api(self, query: str, top_k: int = 5, date_from: str = "", date_to: str = "", page: int = 0) -> list[dict]:
        """Search the archive; returns the same JSON as `newsrag search --json`."""
        try:
            filters = form_filters(date_from, date_to, page)
            return [h.to_dict() for h in self.s.chain.retriever.search(query, int(top_k), filters)]
        except NewsragError as exc:
            raise user_error(exc) from None


def build(ctx: AppContext) -> None:
    """Register /ask (queued with the chat, one generation at a time) and /search."""
    api = ApiEndpoints(ctx.services)
    gr.api(api.ask_api, api_name="ask", concurrency_id=LLM_QUEUE, concurrency_limit=1)
    gr.api(api.search_api, api_name="search")
