"""The one-way data flow: import rag stays light; rag never imports ingest; nothing imports ui."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_rag_is_light():
    code = (
        "import sys, rag, rag.records, rag.settings, rag.errors, rag.embedding, rag.store, rag.archive, rag.catalogue;"
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


def _rag_imports() -> dict[str, set[str]]:
    """For each module of rag (a subpackage counts as one), the rag modules it imports at run
    time (TYPE_CHECKING blocks left out)."""
    out: dict[str, set[str]] = {}
    for f in (ROOT / "rag").rglob("*.py"):
        name = f.relative_to(ROOT / "rag").parts[0].removesuffix(".py")
        tree = ast.parse(f.read_text(encoding="utf-8"))
        skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                for n in ast.walk(node)}
        found = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rag."):
                found.add(node.module.split(".")[1])
        out[name] = out.get(name, set()) | (found - {name})
    return out


def test_rag_modules_form_no_import_cycle():
    graph = _rag_imports()
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, f"import cycle: {' -> '.join(path + (m,))}"
        if m in done:
            return
        for dep in graph.get(m, ()):
            visit(dep, path + (m,))
        done.add(m)

    for m in graph:
        visit(m, ())


def test_each_room_imports_only_what_it_needs():
    g = _rag_imports()
    assert g["records"] == set() and g["errors"] == set() and g["text"] == set()
    assert g["citations"] <= {"records", "text"}  # claim checking: the embedder is passed in
    assert g["conversation"] <= {"records", "text", "citations"}
    assert g["chat_models"] <= {"settings", "errors", "records", "model_files", "extractive"}
    assert "chat_models" not in g["extractive"]
    assert "answering" not in set().union(*(deps for m, deps in g.items() if m != "answering"))  # only the UI calls the chain
    # the store speaks its backends' languages; the catalogue and keyword index share only a database
    assert g["store"] <= {"records", "errors", "settings", "filters"}
    assert g["catalogue"] <= {"records", "sql"} and g["keyword"] <= {"records", "sql", "text", "filters"}
    assert g["filters"] <= {"errors"} and g["sql"] == set()


def test_no_backend_query_language_outside_its_backend():
    """Chroma's filter dialect ($and, $in, where=…) is written only in rag/store/chroma.py."""
    for f in [*(ROOT / "rag").rglob("*.py"), *(ROOT / "ingest").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]:
        if f.relative_to(ROOT).as_posix() == "rag/store/chroma.py":
            continue
        text = f.read_text(encoding="utf-8")
        assert '"$and"' not in text and '"$in"' not in text and "where={" not in text, f
