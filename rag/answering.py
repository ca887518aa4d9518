"""The answer chain: rewrite -> retrieve -> gate -> prompt -> generate -> cite.

Each step is a call into its own module (conversation, retrieval, gate, prompt,
chat_models, citations); this module only sequences them, times them and turns a
refusal into the fixed sentence. Built from LangChain runnables
(``AnswerChain.runnable``) and usable in a few lines:

    chain = AnswerChain.from_settings(Settings.from_env())
    answer = chain.ask("宪法宣传周活动哪天启动？")
    print(answer.text, [c.page for c in answer.citations])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from langchain_core.runnables import RunnableLambda

from rag import topic_questions
from rag.chat_models import ChatModel
from rag.citations import MIN_CITED_COVERAGE, check_answer
from rag.conversation import Turn, resolve_relative_dates, rewrite_question
from rag.gate import MIN_COVERAGE, is_relevant, min_cosine_for
from rag.prompt import NO_ANSWER, SYSTEM_PROMPT, build_prompt, is_refusal, refusal
from rag.records import Answer, Citation, Hit, Prompt, union_box
from rag.retrieval import HybridRetriever, SearchFilters, clean_query
from rag.text import Query, is_english

log = logging.getLogger(__name__)

__all__ = ["AnswerChain", "Prepared"]


@dataclass
class Prepared:
    """One question on its way through the chain: what is known before the model speaks.

    Built per request (never shared between users). ``prompt`` is None when the
    relevance gate refused before any model call. ``timings`` (milliseconds) end up
    on the Answer.
    """

    question: str
    history: Sequence[Turn] = ()
    filters: SearchFilters | None = None
    exclude: frozenset[str] = frozenset()  # source ids kept out of the context (evaluation)
    standalone: str = ""
    query: Query = field(default_factory=lambda: Query("", False, frozenset()))
    english: bool = False  # the question as asked: the language of a refusal
    hits: list[Hit] = field(default_factory=list)
    relevant: bool = False  # the relevance gate's verdict on the hits
    sources: list[Hit] = field(default_factory=list)
    prompt: Prompt | None = None
    topic: Answer | None = None  # a question about a topic over time, answered from the timeline
    started: float = 0.0  # perf_counter when the question arrived
    timings: dict[str, float] = field(default_factory=dict)

    def since_start_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@dataclass
class AnswerChain:
    """Answers questions over the archive with cited sources.

    Attributes:
        retriever: the hybrid retriever (its archive also answers "is page N here?"
            for continuation notes and "which is the newest issue?" for 昨天/上周).
        chat: the chat model (local GGUF, OpenAI-compatible, extractive, fake).
        context_tokens: budget for the numbered sources in the prompt.
        min_coverage / min_cosine: the relevance gate (rag/gate.py): refuse without
            calling the model when no retrieved chunk holds this share of the
            question's content words and none embeds this close to it.
        min_cited_coverage: withdraw an answer whose cited sources hold less than this
            share of the question's content words (rag/citations.py).
    """

    retriever: HybridRetriever
    chat: ChatModel
    # 340 estimated tokens of sources keeps the prompt the size the 420 budget gave
    # before sentence selection (mean 484 vs 481 characters on the seed questions):
    # selection fills the budget, where whole chunks left part of it unused. Prompt
    # size is what sets the time to first token on 2 cores (~93 prompt tokens/s).
    context_tokens: int = 340
    retrieve_k: int = 6
    max_answer_tokens: int = 160
    min_coverage: float = MIN_COVERAGE
    min_cosine: float | None = None  # None: the floor measured for the retriever's embedder (rag/gate.py)
    min_cited_coverage: float = MIN_CITED_COVERAGE
    select_sentences: bool = True

    def __post_init__(self) -> None:
        if self.min_cosine is None:
            self.min_cosine = min_cosine_for(self.retriever.embedder.name)
        self.prepare = (
            RunnableLambda(self._rewrite).with_config(run_name="rewrite")
            | RunnableLambda(self._retrieve).with_config(run_name="retrieve")
            | RunnableLambda(self._gate).with_config(run_name="gate")
            | RunnableLambda(self._prompt).with_config(run_name="prompt")
        )
        self.runnable = self.prepare | RunnableLambda(self._generate).with_config(run_name="generate_and_cite")

    @classmethod
    def from_settings(cls, settings, **overrides) -> AnswerChain:
        from rag.chat_models import make_chat_model
        from rag.retrieval import open_retriever

        retriever = open_retriever(settings)
        chat = make_chat_model(settings)
        if settings.llm == "openai":
            overrides.setdefault("context_tokens", 1500)
        return cls(retriever, chat, **overrides)

    # --- public API -------------------------------------------------------------------

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        filters: SearchFilters | None = None,
        exclude_sources: frozenset[str] = frozenset(),
    ) -> Answer:
        """Answer one question (blocking). ``exclude_sources`` keeps those source ids
        out of the context (used to test refusal when the gold passages are gone).

        Raises:
            InputError: the question is empty.
        """
        return self.runnable.invoke(
            {"question": question, "history": history, "filters": filters, "exclude_sources": exclude_sources}
        )

    def stream(
        self, question: str, history: Sequence[Turn] = (), filters: SearchFilters | None = None
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is generated, then the final cited Answer.

        Streamed text is provisional: the final Answer (markers checked, citations
        attached, inventions withdrawn) is what to show once it arrives.

        Raises:
            InputError: the question is empty (before anything is yielded).
        """
        st = self.prepare.invoke({"question": question, "history": history, "filters": filters})
        return self._generate_stream(st)

    def finish(self, st: Prepared, reply: str) -> Answer:
        """The cited Answer for a prepared question and the model's whole reply (the cite step)."""
        t1 = time.perf_counter()
        answer = self._cite(st, reply.strip())
        st.timings["cite_ms"] = (time.perf_counter() - t1) * 1000
        st.timings["total_ms"] = st.since_start_ms()
        return answer

    def warm_up(self) -> None:
        """Load the embedder and the chat model before the first question arrives."""
        self.retriever.embedder.embed_query("预热")
        self.chat.warm_up(SYSTEM_PROMPT)

    # --- steps ------------------------------------------------------------------------

    def _rewrite(self, inp: dict) -> Prepared:
        t0 = time.perf_counter()
        question = inp["question"] or ""
        clean_query(question)  # the one check of the question: empty is an InputError
        st = Prepared(question, inp.get("history") or (), inp.get("filters"),
                      exclude=frozenset(inp.get("exclude_sources") or ()), started=t0)
        st.standalone = rewrite_question(question, st.history)
        st.query = Query.of(st.standalone)
        st.english = st.query.english if st.standalone == question.strip() else is_english(question)
        if st.filters is None or st.filters == SearchFilters():
            days = resolve_relative_dates(st.standalone, self.retriever.archive.newest_date)
            if days:
                st.filters = SearchFilters(date_from=days[0], date_to=days[1])
        st.timings["rewrite_ms"] = (time.perf_counter() - t0) * 1000
        st.topic = self._topic(st)
        return st

    def _topic(self, st: Prepared) -> Answer | None:
        """「X最早是什么时候见报的」 and the like: answered from every article of the topic
        (rag/topic_questions.py); None for other questions, or when no article holds the
        topic (the usual way may still find something)."""
        if st.exclude:
            return None
        t0 = time.perf_counter()
        tq = topic_questions.match(st.standalone, self.retriever.archive)
        if tq is None:
            return None
        found = topic_questions.answer(st.question, tq, self.retriever.archive, st.filters)
        st.timings["topic_ms"] = (time.perf_counter() - t0) * 1000
        return None if found.refused else found

    def _retrieve(self, st: Prepared) -> Prepared:
        if st.topic is not None:
            return st
        t0 = time.perf_counter()
        k = self.retrieve_k + min(len(st.exclude), 20)
        hits = self.retriever.search(st.standalone, k, st.filters)
        st.hits = [h for h in hits if h.source_id not in st.exclude][: self.retrieve_k]
        st.timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        return st

    def _gate(self, st: Prepared) -> Prepared:
        if st.topic is not None:
            return st
        st.relevant = is_relevant(st.query, st.hits, self.min_coverage, self.min_cosine)
        return st

    def _prompt(self, st: Prepared) -> Prepared:
        if not st.relevant:
            return st
        asked = st.question if not st.history else st.standalone
        st.prompt, st.sources = build_prompt(asked, st.hits, self.context_tokens,
                                             select=self.select_sentences and not st.query.english)
        return st

    def _generate(self, st: Prepared) -> Answer:
        final = None
        for item in self._generate_stream(st):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def _generate_stream(self, st: Prepared) -> Iterator[str | Answer]:
        """Stream the reply, then yield the cited Answer.

        Timings: ``generate_ms`` is the model's share (from the request to its last
        token, so it includes the wait for the first one); ``first_token_ms`` and
        ``total_ms`` count from the moment the question arrived, as a user waits."""
        if st.topic is not None:
            st.timings["first_token_ms"] = st.timings["total_ms"] = st.since_start_ms()
            yield st.topic.text
            yield replace(st.topic, standalone_question=st.standalone, timings_ms=dict(st.timings))
            return
        if st.prompt is None:
            st.timings["first_token_ms"] = st.timings["total_ms"] = st.since_start_ms()
            yield refusal(st.english)
            yield self._refused(st)
            return
        t0 = time.perf_counter()
        parts: list[str] = []
        held = ""  # hold back what could be the start of NO_ANSWER, so it never flashes on screen
        for piece in self.chat.stream(st.prompt, self.max_answer_tokens):
            if not parts:
                st.timings["first_token_ms"] = st.since_start_ms()
            parts.append(piece)
            held += piece
            if NO_ANSWER.startswith(held.strip()) or NO_ANSWER in held:
                continue
            yield held
            held = ""
        st.timings.setdefault("first_token_ms", st.since_start_ms())
        st.timings["generate_ms"] = (time.perf_counter() - t0) * 1000
        answer = self.finish(st, "".join(parts))
        if held and not answer.refused:
            yield held
        if answer.refused:
            yield answer.text
        yield answer

    def _refused(self, st: Prepared) -> Answer:
        return Answer(st.question, refusal(st.english), True, standalone_question=st.standalone, timings_ms=st.timings)

    def _cite(self, st: Prepared, reply: str) -> Answer:
        if is_refusal(reply):
            return self._refused(st)
        checked = check_answer(reply, st.sources, st.query, self.retriever.embedder,
                               min_cited_coverage=self.min_cited_coverage)
        if checked.withdrawn:
            log.info("withdrew an answer (%s): %r", checked.withdrawn, reply)
            return self._refused(st)
        citations = tuple(self._with_place(self._with_continuation(c, st.sources[c.n - 1]), st.sources[c.n - 1])
                          for c in checked.citations)
        return Answer(st.question, checked.text, False, citations, supported=checked.supported,
                      standalone_question=st.standalone, timings_ms=st.timings)

    def _with_continuation(self, c: Citation, h: Hit) -> Citation:
        """"下转2版" / "上接1版", and "：本库未收第2版" while the archive lacks that page of the issue."""
        archive = self.retriever.archive
        notes = []
        if h.continued_from_page:
            note = f"上接{h.continued_from_page}版"
            if not h.story_id and not archive.has_page_of_issue(h.page_key, h.continued_from_page):
                note += f"：本库未收第{h.continued_from_page}版"
            notes.append(note)
        if h.continues_on_page:
            note = f"下转{h.continues_on_page}版"
            if not archive.has_page_of_issue(h.page_key, h.continues_on_page):
                note += f"：本库未收第{h.continues_on_page}版"
            notes.append(note)
        return replace(c, continuation_note="；".join(notes)) if notes else c

    def _with_place(self, c: Citation, h: Hit) -> Citation:
        """For PDF and scanned pages: the page image and the boxes of the quoted sentence's lines
        (found in whichever stored window of the article holds it)."""
        if h.place is None:
            return c
        windows = [h] if c.quote in h.text and h.place.lines else []
        windows += self.retriever.archive.windows(h.article_id)
        for w in windows:
            if w.place is None or (i := w.text.find(c.quote)) < 0:
                continue
            boxes = tuple(w.place.boxes_of(i, i + len(c.quote)))
            return replace(c, place=replace(w.place, box=union_box(boxes) if boxes else w.place.box, lines=()),
                           quote_boxes=boxes)
        return replace(c, place=replace(h.place, lines=()))
