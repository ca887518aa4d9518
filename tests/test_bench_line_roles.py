"""bench/line_roles.py: the classifier it ships is chosen on held-out training pages, not on the test pages."""

from __future__ import annotations

from argparse import Namespace

import numpy as np


def _pages(rng: np.random.Generator, n: int) -> list:
    out = []
    for _ in range(n):
        x = rng.normal(size=(20, 3))
        roles = ["title" if v > 0 else "body" for v in x[:, 0]]
        out.append(([], roles, x))
    return out


def test_fit_ships_the_kind_it_is_told_and_otherwise_the_better_on_the_pages_it_is_given():
    from bench.line_roles import fit

    rng = np.random.default_rng(0)
    train, held = _pages(rng, 6), _pages(rng, 2)
    args = Namespace(trees=5, leaves=4, l2=1.0, rate=0.1, context=False, texts=None)
    model, accs = fit(train, held, args, kind="logistic")
    assert model["kind"] == "logistic" and "coef" in model and set(accs) == {"logistic", "trees"}
    model, accs = fit(train, held, args, kind="trees")
    assert model["kind"] == "trees" and "trees" in model
    model, accs = fit(train, held, args)
    assert model["kind"] == max(accs, key=accs.get)
