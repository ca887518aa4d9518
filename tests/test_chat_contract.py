"""One ChatModel contract, every backend: the scripted fake, the extractive backend, the
default local GGUF model (llama.cpp) and the OpenAI-compatible backend against a real
llama.cpp server on 127.0.0.1 (the last two slow)."""

from __future__ import annotations

import pytest

from rag.chat_models import ExtractiveChat, FakeChat, LlamaCppChat, OpenAICompatibleChat
from rag.prompt import NO_ANSWER, SYSTEM_PROMPT
from rag.records import Prompt

SOURCE = "位于长滨路主干道旁的星辰花园小区建于1998年，外墙金属构件生锈掉落。"
QUESTION = "星辰花园小区建于哪一年？"
PROMPT = Prompt(
    messages=(
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"【来源1】渝中报 日期不详 第1版 《主任接待日》\n{SOURCE}\n【问题】{QUESTION}"},
    ),
    question=QUESTION,
    sources=((1, SOURCE),),
)
SLOW = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(params=["fake", "extractive", pytest.param("llama.cpp", marks=SLOW),
                        pytest.param("openai-compatible", marks=SLOW)])
def chat(request):
    if request.param == "fake":
        return FakeChat(["星辰花园小区建于1998年[1]。"] * 10)
    if request.param == "extractive":
        return ExtractiveChat()
    if request.param == "llama.cpp":
        return LlamaCppChat(request.getfixturevalue("gguf"), n_ctx=2048)
    return OpenAICompatibleChat(request.getfixturevalue("llama_server"), "qwen-local")


def test_name_says_which_backend(chat):
    assert isinstance(chat.name, str) and chat.name


def test_streams_text_pieces_that_make_the_complete_reply(chat):
    pieces = list(chat.stream(PROMPT, 48))
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == chat.complete(PROMPT, 48)  # greedy: the same reply every time


def test_answers_from_the_sources_it_is_given(chat):
    assert "1998" in chat.complete(PROMPT, 48)


def test_plain_messages_are_a_prompt_too(chat):
    reply = chat.complete(list(PROMPT.messages), 48)
    assert isinstance(reply, str) and reply
    if not isinstance(chat, ExtractiveChat):  # it reads sources as data only: none here
        assert "1998" in reply
    else:
        assert reply == NO_ANSWER


def test_warm_up_prepares_without_answering(chat):
    assert chat.warm_up(SYSTEM_PROMPT) is None
