"""Domain errors. Each message says what went wrong and what to do next."""

from __future__ import annotations

__all__ = [
    "NewsragError",
    "ConfigError",
    "InputError",
    "ModelNotAvailable",
    "IndexMissing",
    "EmbedderMismatch",
    "StoreUnavailable",
    "ChatUnavailable",
    "IndexUnreadable",
    "IndexReadOnly",
    "DiskFull",
    "IndexBusy",
    "is_disk_full",
]


class NewsragError(Exception):
    """Base class; the CLI maps these to exit codes, the library only raises.

    The message is English (logs, developers). ``zh`` is what a user reads first: the class
    gives a general one ("输入无法读取"); a raise site the app or the CLI's users reach gives
    a specific one, e.g. ``InputError("the question is empty", zh="问题是空的，请输入要查找的内容")``.
    """

    exit_code = 1
    zh = "操作失败"

    def __init__(self, message: str = "", *, zh: str | None = None) -> None:
        super().__init__(message)
        if zh:
            self.zh = zh

    def for_user(self) -> str:
        """Chinese first, the English detail after it in brackets."""
        return f"{self.zh}（{self}）" if str(self) else self.zh


class ConfigError(NewsragError):
    """A setting has a value newsrag cannot use."""

    exit_code = 2
    zh = "设置有误"


class InputError(NewsragError):
    """A file or value given by the user cannot be read."""

    exit_code = 2
    zh = "输入无法读取"


class ModelNotAvailable(NewsragError):
    """A model's files are missing or an optional package is not installed."""

    exit_code = 3
    zh = "模型不可用"


class IndexMissing(NewsragError):
    """No index exists where one was expected."""

    exit_code = 4
    zh = "还没有索引"


class EmbedderMismatch(NewsragError):
    """The index was built with a different embedder than the one configured."""

    exit_code = 5
    zh = "索引与当前嵌入模型不一致"


class StoreUnavailable(NewsragError):
    """The vector store could not be opened or reached."""

    exit_code = 6
    zh = "无法打开向量库"


class ChatUnavailable(NewsragError):
    """The chat model cannot be loaded or its endpoint cannot be reached."""

    exit_code = 7
    zh = "对话模型不可用"


class IndexUnreadable(NewsragError):
    """The index's files are damaged or not newsrag's; nothing was changed."""

    exit_code = 8
    zh = "索引文件损坏或不是 newsrag 的索引"


class IndexReadOnly(NewsragError):
    """The index is on a read-only disk or mount: it can be searched, not written."""

    exit_code = 9
    zh = "索引是只读的"


class DiskFull(NewsragError):
    """The disk holding the index filled up during a write; what was stored is kept."""

    exit_code = 10
    zh = "磁盘已满"


class IndexBusy(NewsragError):
    """Another process is writing to the embedded index (Chroma embedded is one writer at a time)."""

    exit_code = 11
    zh = "索引正被另一个进程写入"


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error from SQLite, Chroma or the OS means no space was left."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "database or disk is full" in text or "no space left on device" in text or "(code: 13)" in text
