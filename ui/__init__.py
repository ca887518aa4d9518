"""User interfaces: the ``newsrag`` command (and later the chat app)."""

__all__: list[str] = []
