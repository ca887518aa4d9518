"""Page images kept for citations: rendered once at ingest, under NEWSRAG_HOME/pages/.

A PDF or scanned page's image is what a source card crops to the cited article. Names
come from the page's content (the file's hash and the page's index), so ingesting the
same page again writes nothing new; the app serves only this folder.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["PageImages", "PAGES_DIR"]

PAGES_DIR = "pages"


class PageImages:
    """JPEG page images under ``home/pages``, referenced as ``pages/<name>.jpg``.

    Args:
        home: NEWSRAG_HOME.
        width: pixels across a kept image (enough to read a column when zoomed).
        quality: JPEG quality.
    """

    def __init__(self, home: Path, width: int = 1600, quality: int = 82) -> None:
        self.home = Path(home)
        self.root = self.home / PAGES_DIR
        self.width, self.quality = width, quality

    @staticmethod
    def key(data: bytes, index: int) -> str:
        return f"{hashlib.sha256(data).hexdigest()[:24]}-{index:03d}"

    def ref(self, key: str) -> str:
        return f"{PAGES_DIR}/{key}.jpg"

    def path(self, ref: str) -> Path | None:
        """The file of a reference, or None when it is not a page image of this folder."""
        name = Path(ref).name
        if ref != f"{PAGES_DIR}/{name}" or not name.endswith(".jpg") or "/" in name or name.startswith("."):
            return None
        return self.root / name

    def save(self, image, key: str) -> str:
        """Keep ``image`` (PIL) as the page image ``key``; returns its reference."""
        ref = self.ref(key)
        target = self.root / f"{key}.jpg"
        if target.is_file():
            return ref
        self.root.mkdir(parents=True, exist_ok=True)
        img = image.convert("RGB")
        if img.width > self.width:
            img = img.resize((self.width, round(img.height * self.width / img.width)))
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".jpg")
        try:
            with os.fdopen(fd, "wb") as f:
                img.save(f, "JPEG", quality=self.quality)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return ref
