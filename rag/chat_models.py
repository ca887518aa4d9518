"""Chat models behind one small interface. The only module that imports an LLM provider.

Backends: a local GGUF model (llama-cpp-python), any OpenAI-compatible endpoint
(vLLM, Ollama, llama.cpp server, hosted APIs), an extractive backend that needs
no LLM, and a scripted fake for tests. Every backend passes
tests/test_chat_contract.py.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.errors import ChatUnavailable, ConfigError, ModelNotAvailable
from rag.records import Prompt
from rag.settings import Settings

__all__ = [
    "Message",
    "ChatModel",
    "LlamaCppChat",
    "OpenAICompatibleChat",
    "ExtractiveChat",
    "FakeChat",
    "as_prompt",
    "default_gguf",
    "make_chat_model",
]

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


def as_prompt(prompt: Prompt | Sequence[Message]) -> Prompt:
    """A Prompt as given, or plain chat messages wrapped in one (no sources as data)."""
    return prompt if isinstance(prompt, Prompt) else Prompt(messages=tuple(prompt))


class ChatModel(ABC):
    """Streams a reply to a prompt: chat messages, with the question and sources as data.

    Plain message lists are accepted too (``as_prompt``)."""

    name: str

    @abstractmethod
    def stream(self, prompt: Prompt | Sequence[Message], max_tokens: int = 256) -> Iterator[str]:
        """Yield the reply piece by piece (greedy decoding: answers must be reproducible)."""

    def complete(self, prompt: Prompt | Sequence[Message], max_tokens: int = 256) -> str:
        return "".join(self.stream(prompt, max_tokens))

    def warm_up(self, system_prompt: str) -> None:  # noqa: B027 (optional hook, most backends need nothing)
        """Load what the first question would otherwise wait for (default: nothing)."""


class LlamaCppChat(ChatModel):
    """A GGUF model run in-process by llama-cpp-python.

    One generation at a time (a lock): on a 2-core machine parallel generations
    only slow each other down. llama.cpp keeps the KV cache of the previous
    prompt and reuses its longest common prefix, so the fixed system prompt is
    evaluated once, not per question. Flash attention is on: reading the sources, which
    is what the first token waits for, ran 14% faster with it on this 2-core CPU
    (`python -m bench.llm_speed --flash-attn off,on`), and writing 12%.
    """

    def __init__(self, model_path: str | Path, n_ctx: int = 4096, n_threads: int | None = None,
                 flash_attn: bool = True) -> None:
        self.model_path = Path(model_path)
        self.name = f"llama.cpp:{self.model_path.name}"
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.flash_attn = flash_attn
        self._llm = None
        self._lock = threading.Lock()

    def _load(self):
        if self._llm is None:
            if not self.model_path.is_file():
                raise ModelNotAvailable(
                    f"no GGUF model at {self.model_path}: run `newsrag models fetch` (or `make run`), "
                    "set NEWSRAG_LLM_MODEL to a .gguf file, or NEWSRAG_LLM=extractive",
                    zh="找不到对话模型文件：请运行 newsrag models fetch（或 make run），或设置 NEWSRAG_LLM=extractive",
                )
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ModelNotAvailable(
                    "llama-cpp-python is not installed: run `make install`, or "
                    "pip install llama-cpp-python==0.3.36 (or set NEWSRAG_LLM=extractive)"
                ) from exc
            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or os.cpu_count() or 2,
                flash_attn=self.flash_attn,
                verbose=False,
            )
        return self._llm

    def warm_up(self, system_prompt: str) -> None:
        # loads the weights and leaves the system prompt in the KV cache
        for _ in self.stream([{"role": "system", "content": system_prompt}, {"role": "user", "content": "你好"}], 1):
            pass

    def stream(self, prompt: Prompt | Sequence[Message], max_tokens: int = 256) -> Iterator[str]:
        messages = list(as_prompt(prompt).messages)
        with self._lock:
            llm = self._load()
            for part in llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True
            ):
                piece = part["choices"][0]["delta"].get("content")
                if piece:
                    yield piece


class OpenAICompatibleChat(ChatModel):
    """Any server that speaks the OpenAI chat-completions protocol, through langchain-openai."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 120.0) -> None:
        if not base_url or not model:
            raise ConfigError(
                "NEWSRAG_LLM=openai needs NEWSRAG_OPENAI_BASE_URL (e.g. http://127.0.0.1:8080/v1) "
                "and NEWSRAG_OPENAI_MODEL"
            )
        self.base_url, self.model = base_url, model
        self.name = f"openai:{model}@{base_url}"
        self.api_key = api_key or "not-needed"
        self.timeout = timeout
        self._client = None

    def _chat(self, max_tokens: int):
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise ModelNotAvailable("langchain-openai is not installed: pip install 'langchain-openai>=1.0'") from exc
        return ChatOpenAI(
            base_url=self.base_url,
            model=self.model,
            api_key=self.api_key,
            temperature=0.0,
            max_tokens=max_tokens,
            timeout=self.timeout,
            max_retries=1,
        )

    def stream(self, prompt: Prompt | Sequence[Message], max_tokens: int = 256) -> Iterator[str]:
        import openai
        from langchain_core.exceptions import ModelError

        chat = self._chat(max_tokens)
        try:
            for chunk in chat.stream([(m["role"], m["content"]) for m in as_prompt(prompt).messages]):
                if chunk.content:
                    yield str(chunk.content)
        except (openai.APIError, ModelError) as exc:
            raise ChatUnavailable(
                f"the chat endpoint {self.base_url} (model {self.model!r}) failed: {exc}. "
                "Check NEWSRAG_OPENAI_BASE_URL / NEWSRAG_OPENAI_MODEL, or set NEWSRAG_LLM=extractive",
                zh=f"对话模型服务 {self.base_url} 出错：请检查它是否在运行，或设置 NEWSRAG_LLM=extractive",
            ) from exc


class ExtractiveChat(ChatModel):
    """No LLM: answers with the source sentences that best cover the question, each cited.

    It reads the prompt's question and sources as data (``Prompt.sources``), never the
    rendered prompt; given plain messages it has no sources and replies NO_ANSWER.
    """

    name = "extractive"

    def __init__(self, max_sentences: int = 1) -> None:
        self.max_sentences = max_sentences

    def stream(self, prompt: Prompt | Sequence[Message], max_tokens: int = 256) -> Iterator[str]:
        from rag.extractive import extract_answer

        prompt = as_prompt(prompt)
        yield extract_answer(prompt.question, dict(prompt.sources), self.max_sentences)


class FakeChat(ChatModel):
    """Replies from a script, for tests. Records the messages (``calls``) and prompts it was given."""

    name = "fake-chat"

    def __init__(self, replies: Sequence[str] | None = None) -> None:
        self.replies = list(replies or [])
        self.calls: list[list[Message]] = []
        self.prompts: list[Prompt] = []

    def stream(self, prompt: Prompt | Sequence[Message], max_tokens: int = 256) -> Iterator[str]:
        prompt = as_prompt(prompt)
        self.prompts.append(prompt)
        self.calls.append(list(prompt.messages))
        reply = self.replies.pop(0) if self.replies else ""
        for i in range(0, len(reply), 3):
            yield reply[i : i + 3]


def default_gguf(settings: Settings) -> Path:
    from rag.model_files import QWEN_CODER_1_5B

    return QWEN_CODER_1_5B.folder(settings.model_cache) / next(iter(QWEN_CODER_1_5B.expected))


def make_chat_model(settings: Settings) -> ChatModel:
    """Build the chat model named by NEWSRAG_LLM."""
    if settings.llm == "extractive":
        return ExtractiveChat()
    if settings.llm == "openai":
        return OpenAICompatibleChat(settings.openai_base_url, settings.openai_model, settings.openai_api_key)
    if settings.llm == "local":
        return LlamaCppChat(settings.llm_model or default_gguf(settings))
    raise ConfigError(f"NEWSRAG_LLM must be local, openai or extractive, got {settings.llm!r}")
