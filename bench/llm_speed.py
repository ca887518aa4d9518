"""How fast the local GGUF model reads a prompt and writes an answer on this machine.

    python -m bench.llm_speed [--model PATH[,PATH...]] [--flash-attn off,on] [--threads N] [--runs 3]

Prompt processing sets the time to first token (the sources in the prompt); generation
sets the rest. Prints the CPU features llama.cpp was built with, then the medians over
``--runs`` of: prompt tokens/s (the system prompt plus ~400 tokens of the seed page,
evaluated from an empty KV cache) and generation tokens/s (120 tokens, greedy). Compare
builds (the Makefile's LLAMA_CMAKE_ARGS) by running it in each venv; compare GGUF files
and llama.cpp's flash attention side by side by listing them (every variant loaded once,
then the runs taken round-robin, so the machine's drift falls on all alike).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from rag.chat_models import default_gguf
from rag.prompt import SYSTEM_PROMPT
from rag.settings import Settings

SEED_PAGE = Path(__file__).resolve().parent.parent / "corpus" / "yuzhongbao"


def _seed_text(chars: int) -> str:
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(SEED_PAGE.rglob("*.txt")))
    return text[:chars]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="", help="comma-separated .gguf files (default: the fetched default model)")
    ap.add_argument("--flash-attn", default="off", help="off, on, or off,on")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import llama_cpp

    paths = [Path(m) for m in args.model.split(",") if m] or [default_gguf(Settings.from_env())]
    flashes = [f.strip() == "on" for f in args.flash_attn.split(",")]
    print(llama_cpp.llama_print_system_info().decode().strip())
    prompt = f"{SYSTEM_PROMPT}\n{_seed_text(560)}\n【问题】这篇报道讲了什么？"
    variants = {(p, fa): llama_cpp.Llama(str(p), n_ctx=2048, n_threads=args.threads or os.cpu_count(),
                                         flash_attn=fa, verbose=False)
                for p in paths for fa in flashes}
    pp: dict = {v: [] for v in variants}
    gen: dict = {v: [] for v in variants}
    for _ in range(args.runs):
        for v, llm in variants.items():
            n_prompt = len(llm.tokenize(prompt.encode("utf-8")))
            llm.reset()  # an empty KV cache: the whole prompt is evaluated
            t0 = time.perf_counter()
            llm.create_completion(prompt, max_tokens=1, temperature=0.0)
            pp[v].append(n_prompt / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            out = llm.create_completion("请介绍一下重庆：", max_tokens=120, temperature=0.0)
            gen[v].append(out["usage"]["completion_tokens"] / (time.perf_counter() - t0))
    print(f"threads {args.threads or os.cpu_count()}, runs {args.runs}, a {n_prompt}-token prompt from an empty cache")
    for (p, fa) in variants:
        print(f"{p.name:45s} flash attention {'on ' if fa else 'off'}  prompt {statistics.median(pp[(p, fa)]):6.1f} tokens/s"
              f"  generation {statistics.median(gen[(p, fa)]):5.1f} tokens/s")


if __name__ == "__main__":
    main()
