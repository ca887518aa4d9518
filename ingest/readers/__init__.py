"""One reader per input format: bytes -> lines (with boxes and type size where the format has them)."""
