"""What the tabs share: the layout context, the form's filters, errors for the user, access checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

import gradio as gr

from rag.archive import Archive
from rag.errors import NewsragError
from rag.retrieval import SearchFilters
from ui.app.services import AppServices

__all__ = ["ALL_PAGES", "LLM_QUEUE", "AppContext", "esc", "form_filters", "page_choices", "require_admin",
           "require_staff", "signed_in", "user_error"]

# The local model runs one generation at a time on 2 cores: every event that calls it
# shares this concurrency group with limit 1, and the queue shows the others their place.
LLM_QUEUE = "llm"
ALL_PAGES = "全部版面"


@dataclass
class AppContext:
    """What ``build_app`` hands each tab while it lays the tabs out.

    ``authed`` is this browser session's admin token: set by 档案管理, required by 质量评测.
    A tab whose components show what the archive holds registers them with ``follows_archive``;
    a tab whose events change the archive reports them with ``archive_changed``. A tab that looks
    a name up (时间线) registers with ``shows_topics``; another tab's event that puts a name in
    a component hands it over with ``opens_topic``, which switches to that tab (``tabs``).
    ``build_app`` wires them once every tab is laid out, so the order of the tabs does not matter.
    """

    services: AppServices
    authed: gr.State
    tabs: gr.Tabs | None = None
    _views: list[tuple[Callable[[], Any], Any]] = field(default_factory=list)
    _changes: list[Any] = field(default_factory=list)
    _topic_view: tuple[str, Callable[..., tuple], list, list] | None = None
    _topic_events: list[tuple[Any, Any]] = field(default_factory=list)

    def follows_archive(self, refresh: Callable[[], Any], outputs: Any) -> None:
        """``refresh()`` updates ``outputs`` on each visit and after every change of the archive."""
        self._views.append((refresh, outputs))

    def archive_changed(self, event: Any) -> None:
        """An event (a Gradio dependency) that changes the archive when it succeeds."""
        self._changes.append(event)

    def shows_topics(self, tab_id: str, show: Callable[..., tuple], inputs: list, outputs: list) -> None:
        """The tab ``tab_id`` looks names up: ``show(name, *inputs)`` fills ``outputs``."""
        self._topic_view = (tab_id, show, inputs, outputs)

    def opens_topic(self, event: Any, name: Any) -> None:
        """After ``event`` succeeds, the name it left in ``name`` (empty: nothing) is looked up in
        the tab registered by ``shows_topics``, and that tab is shown."""
        self._topic_events.append((event, name))

    def wire(self, demo: gr.Blocks) -> None:
        for event in self._changes:
            for refresh, outputs in self._views:
                event.success(refresh, None, outputs, api_visibility="private")
        for refresh, outputs in self._views:
            demo.load(refresh, None, outputs, api_visibility="private")
        if self._topic_view is not None and self.tabs is not None:
            tab_id, show, inputs, outputs = self._topic_view

            def open_topic(name: str, *values: Any) -> tuple:
                if not name:
                    return (gr.skip(),) * (1 + len(outputs))
                return (gr.Tabs(selected=tab_id), *show(name, *values))

            for event, name in self._topic_events:
                event.success(open_topic, [name, *inputs], [self.tabs, *outputs], api_visibility="private")


def user_error(exc: Exception) -> gr.Error:
    """The error shown to the user: a domain error's own message, else a generic one."""
    if isinstance(exc, NewsragError):
        return gr.Error(exc.for_user())
    return gr.Error(f"出错了，请稍后再试 ({type(exc).__name__})")


def form_filters(date_from: str, date_to: str, page: str | int | None) -> SearchFilters:
    """Filters from the form (the page as the dropdown shows it, 第N版, or a number; 0 or
    全部版面 for all); the library validates them and names the field that is wrong."""
    page_no = None
    if page and page != ALL_PAGES:
        page_no = int(str(page).removeprefix("第").removesuffix("版"))
    return SearchFilters((date_from or "").strip() or None, (date_to or "").strip() or None, None, page_no)


def page_choices(archive: Archive) -> list[str]:
    """A page filter's options, from the keyword index (no scan of the vector store)."""
    return [ALL_PAGES] + [f"第{p}版" for p in archive.pages()]


def esc(s: str) -> str:
    return escape(s or "")


def signed_in(services: AppServices, authed: object) -> bool:
    return services.login is not None and services.login.valid(authed)


def require_admin(services: AppServices, authed: str) -> None:
    if not signed_in(services, authed):
        raise gr.Error("请先登录管理账号（登录超过一小时需重新登录）。")


def require_staff(services: AppServices, authed: str) -> None:
    """Quality runs (which read a path on the server and occupy the model) and the
    feedback log (residents' questions) need the admin login once one is configured.
    Without one the app is a single-user local tool and they stay open, unless it is
    served beyond this machine: then they are closed."""
    if services.login is not None and not signed_in(services, authed):
        raise gr.Error("质量评测和用户反馈仅限管理账号：请先在「档案管理」页登录。")
    if services.login is None and services.exposed:
        raise gr.Error("本服务对外开放且未设置管理账号，质量评测和用户反馈已关闭："
                       "请设置 NEWSRAG_ADMIN_USER 和 NEWSRAG_ADMIN_PASSWORD 后重启。")
