"""The Gradio app: 问答 (residents), 检索, 时间线 and 浏览 (reporters), 质量评测 (staff),
档案管理 (admins), and the /ask and /search API.

One module per tab: each owns a small class of handlers, taking the ``AppServices``
(plain methods, tested without a browser), and a ``build(ctx)`` that lays out its tab
and wires the handlers to its components. What the tabs share (the admin session,
components that follow the archive) goes through the ``AppContext``. A new tab is a
new module and one line in ``TABS``.
"""

from __future__ import annotations

import gradio as gr

from ui.app import admin, api, browse, chat, quality, search, timeline
from ui.app.common import LLM_QUEUE, AppContext
from ui.app.explore_views import EXPLORE_CSS
from ui.app.services import AppServices, open_services
from ui.app.views import CSS

__all__ = ["LLM_QUEUE", "TABS", "AppServices", "build_app", "launch_app", "open_services"]

# The tabs, in the order they are shown.
TABS = (chat.build, search.build, timeline.build, browse.build, quality.build, admin.build)


def build_app(services: AppServices) -> gr.Blocks:
    """The whole app, wired. Launch with ``launch_app`` (it sets the queue and CSS)."""
    with gr.Blocks(title="newsrag 报纸档案问答") as demo:
        ctx = AppContext(services, authed=gr.State(""))  # this session's admin token (档案管理), also required by 质量评测
        gr.Markdown("## 报纸档案问答\n每个回答都注明出自哪份报纸、哪一期、第几版、哪篇文章。")
        with gr.Tabs(elem_id="nr-tabs") as ctx.tabs:  # a handler may switch tabs (浏览 opens a name in 时间线)
            for build_tab in TABS:
                build_tab(ctx)
        ctx.wire(demo)
        api.build(ctx)
    return demo


def launch_app(services: AppServices, host: str = "127.0.0.1", port: int = 7860, queue_size: int = 32, **kwargs) -> None:
    """Serve the app. Blocks until stopped (``prevent_thread_lock=True`` in kwargs returns)."""
    demo = build_app(services)
    demo.queue(max_size=queue_size, default_concurrency_limit=4)
    allowed = [str(services.images.root)] if services.images is not None else []
    if services.images is not None:
        services.images.root.mkdir(parents=True, exist_ok=True)
    demo.launch(server_name=host, server_port=port, css=CSS + EXPLORE_CSS, max_file_size="64mb", show_error=True, allowed_paths=allowed,
                footer_links=["api"], **kwargs)
