"""The one-way data flow: import rag stays light; rag never imports ingest; nothing imports ui."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_rag_is_light():
    code = (
        "import sys, rag, rag.records, rag.settings, rag.errors, rag.embedding, rag.store;"
        "heavy = [m for m in ('torch', 'gradio', 'sentence_transformers', 'chromadb', 'transformers') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def _imports(pkg: str) -> set[str]:
    found = set()
    for f in (ROOT / pkg).rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_layers():
    assert "ingest" not in _imports("rag") and "ui" not in _imports("rag")
    assert "ui" not in _imports("ingest")
