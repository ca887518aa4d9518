"""What the app uses: ``AppServices``, built from Settings by ``open_services`` or passed in by tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ingest.page_images import PageImages
from ingest.readers.ocr import OcrEngine, RapidOcr
from rag.answering import AnswerChain
from rag.archive import Archive
from rag.settings import Settings
from ui.app.feedback import FeedbackLog
from ui.app.login import AdminLogin

__all__ = ["AppServices", "open_services"]


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
