"""First token and total time of answers through the chain, as users see them: questions in an
order where neighbours ask about different articles (so llama.cpp's cache holds only the
system prompt, not the previous question's sources), at 1 and 4 concurrent users, and the
answers' accuracy on the same run so a faster setting that answers worse shows it.

    NEWSRAG_HOME=<seed index> python -m bench.answer_latency tests/fixtures/seed_qa.jsonl
    ... --users 1,4 --context-tokens 340,240 --model A.gguf,B.gguf --flash-attn off,on --threads 2
    ... --cold       # also: seconds from `newsrag serve` to the first answer
    NEWSRAG_HOME=<RGB index> python -m bench.answer_latency ../shared/eval-data/rgb_zh_qa.jsonl --split test --users 1

Each setting is a fresh chain in this process (the model loaded and warmed once, as the app
does at start); the times are the chain's own (from the question's arrival, queue wait
included when users share the one model).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rag.evaluation import Question, answer_matches, load_questions, split_questions
from rag.settings import Settings


def interleaved(questions: list[Question]) -> list[Question]:
    """Round-robin over the gold articles: no two neighbours share one."""
    groups: dict[tuple, list[Question]] = {}
    for q in questions:
        groups.setdefault(tuple(sorted(q.gold)), []).append(q)
    out = [q for batch in itertools.zip_longest(*groups.values()) for q in batch if q is not None]
    return out


def _p(xs: list[float], pct: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(pct / 100 * (len(xs) - 1))))] if xs else 0.0


def run(chain, questions: list[Question], users: int) -> dict:
    """Every question once, ``users`` at a time; per-question first token, total, correct."""
    todo, lock, rows = list(questions), threading.Lock(), []

    def user() -> None:
        while True:
            with lock:
                if not todo:
                    return
                q = todo.pop(0)
            a = chain.ask(q.question)
            rows.append((a.timings_ms.get("first_token_ms", 0.0), a.timings_ms.get("total_ms", 0.0),
                         (not a.refused) and answer_matches(a.text, q.answer)))

    threads = [threading.Thread(target=user) for _ in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    first, total = [r[0] / 1000 for r in rows], [r[1] / 1000 for r in rows]
    return {"n": len(rows), "first_p50": statistics.median(first), "first_p95": _p(first, 95),
            "total_p50": statistics.median(total), "total_p95": _p(total, 95),
            "correct": sum(r[2] for r in rows), "wall": wall}


def cold_start(port: int = 0) -> float:
    """Seconds from launching `newsrag serve` to the first answer through its /ask API."""
    import socket

    from gradio_client import Client

    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    exe = str(Path(sys.executable).parent / "newsrag")
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([exe, "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
                        "渝中区宪法宣传周活动哪天启动？", "", "", 0, api_name="/ask")
                    return time.perf_counter() - t0
                except Exception:  # noqa: BLE001 - not up yet
                    if proc.poll() is not None:
                        log.seek(0)
                        sys.exit(f"newsrag serve exited: {log.read()[-1500:].decode(errors='replace')}")
                    time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qa", type=Path)
    ap.add_argument("--split", choices=["all", "dev", "test"], default="all", help="as in `newsrag eval`")
    ap.add_argument("--users", default="1,4")
    ap.add_argument("--context-tokens", default="", help="comma-separated source budgets (default: the chain's)")
    ap.add_argument("--model", default="", help="comma-separated .gguf files (default: NEWSRAG_LLM_MODEL or the fetched one)")
    ap.add_argument("--flash-attn", default="", help="off, on, or off,on (default: the chat model's, on)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    from rag.answering import AnswerChain
    from rag.chat_models import LlamaCppChat, make_chat_model
    from rag.prompt import SYSTEM_PROMPT

    settings = Settings.from_env()
    questions = interleaved(split_questions(load_questions(args.qa), args.split))
    budgets = [int(b) for b in args.context_tokens.split(",") if b] or [None]
    models = [m for m in args.model.split(",") if m] or [None]
    flashes = [f.strip() == "on" for f in args.flash_attn.split(",") if f] or [None]
    print(f"{len(questions)} questions, neighbours on different articles; llm {settings.llm}")
    base = AnswerChain.from_settings(settings)
    for model, flash in itertools.product(models, flashes):
        if settings.llm == "local" and (model or args.threads or flash is not None):
            chat = LlamaCppChat(model or settings.llm_model or base.chat.model_path, n_threads=args.threads,
                                **({} if flash is None else {"flash_attn": flash}))
        else:
            chat = make_chat_model(settings)
        chat.warm_up(SYSTEM_PROMPT)  # as the app does at start
        for budget in budgets:
            chain = AnswerChain(base.retriever, chat, min_cosine=base.min_cosine,
                                **({"context_tokens": budget} if budget else {}))
            chain.ask(questions[-1].question)  # the retriever's first query loads the embedder
            for users in [int(u) for u in args.users.split(",")]:
                r = run(chain, questions, users)
                fa = {True: "  flash on ", False: "  flash off"}.get(getattr(chat, "flash_attn", None), "")
                print(f"{Path(getattr(chat, 'model_path', chat.name)).name:42s}{fa} sources {chain.context_tokens:4d} tok  "
                      f"users {users}  first token p50 {r['first_p50']:.2f} s  p95 {r['first_p95']:.2f} s  "
                      f"total p50 {r['total_p50']:.2f} s  p95 {r['total_p95']:.2f} s  correct {r['correct']}/{r['n']}  "
                      f"wall {r['wall']:.0f} s", flush=True)
    if args.cold:
        print(f"cold start: {cold_start():.1f} s from `newsrag serve` to the first answer (NEWSRAG_HOME={os.environ.get('NEWSRAG_HOME', '.newsrag')})")


if __name__ == "__main__":
    main()
