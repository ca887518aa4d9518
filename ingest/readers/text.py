"""Plain-text page layers: decoding (UTF-8, GBK/GB18030) and lines with blocks."""

from __future__ import annotations

from rag.records import Line

__all__ = ["decode_text", "lines_from_text"]


def decode_text(data: bytes) -> tuple[str | None, str]:
    """Decode page text: UTF-8 (with or without BOM), then GB18030 (a superset of GBK).

    Returns (text, "") or (None, reason).
    """
    if not data.strip():
        return None, "空文件，没有可导入的内容 (empty file: nothing to ingest)"
    if b"\x00" in data[:8192] or _control_ratio(data[:8192]) > 0.05:
        return None, "二进制文件，不是版面文本，请另存为 UTF-8 .txt (binary file, not page text)"
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "gb18030" and _implausible(text):
            break
        return text.replace("\r\n", "\n").replace("\r", "\n"), ""
    return None, "无法解码：既不是 UTF-8 也不是 GBK/GB18030，请转换为 UTF-8 (undecodable text)"


def _control_ratio(data: bytes) -> float:
    ctrl = sum(1 for b in data if b < 32 and b not in (9, 10, 13, 12))
    return ctrl / max(len(data), 1)


def _implausible(text: str) -> bool:
    # GB18030 decodes most byte soup; real Chinese text is mostly common CJK,
    # ASCII and punctuation, so a high share of anything else means a wrong guess.
    odd = sum(
        1
        for ch in text
        if not (ch.isascii() or "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef" or ch in "“”‘’…—·")
    )
    return odd / max(len(text), 1) > 0.1


def lines_from_text(text: str) -> tuple[Line, ...]:
    """Split page text into lines; a blank line starts a new block (a column break)."""
    text = no_surrogates(text)
    out: list[Line] = []
    block = 0
    pending_break = False
    for raw in text.split("\n"):
        s = raw.replace("\u3000", " ").strip()
        if not s:
            pending_break = True
            continue
        if pending_break and out:
            block += 1
        pending_break = False
        out.append(Line(text=s, block=block))
    return tuple(out)


def no_surrogates(text: str) -> str:
    """Lone surrogates (a JSON ``\\ud800`` escape, text built in code) cannot be stored or hashed
    as UTF-8: each becomes ``?``."""
    return text.encode("utf-8", "replace").decode("utf-8")
