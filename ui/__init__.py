"""User interfaces: the ``newsrag`` command (``ui.cli``) and the Gradio app (``ui.app``)."""

__all__: list[str] = []
