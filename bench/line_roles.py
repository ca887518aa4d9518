"""Line roles of text layers learned from generated pages, against today's rules.

    python -m bench.line_roles [--pages 300] [--train 300] [--texts PATH] [--write]

Pages come from ``tests/newspages.py`` through ``bench.segmentation``'s cache (rendered on
first use). The model learns from ``--train`` pages of their own seeds (10,000 on) and is
measured on the ``--pages`` pages ``bench.segmentation`` measures (seeds 0 on, the seed
e-paper page and the two other-paper pages first), none of which it saw. Per line, the
learned classifier's roles (``ingest/line_roles.py``: a multinomial logistic regression and
gradient-boosted trees on line features, the better on held-out training pages shipped), line by line and decoded as a
sequence with the role-to-role transitions counted on the training pages; then articles
exact by the rules, by the learned roles, and by ``auto``. ``--write`` stores the better
model and the transitions in ``ingest/line_roles.json`` (what newsrag ships).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench.segmentation import build
from ingest.line_roles import FEATURES, ROLES, WEIGHTS, features
from tests.newspages import TextPool, corpus_plans, score_page, text_layer_lines

TRAIN_SEED = 10_000  # the training pages' seeds; bench.segmentation measures seeds 0 on
_MAP = {"masthead": "furniture", "folio": "furniture", "editors": "furniture", "ad": "furniture",
        "kicker": "kicker", "title": "title", "subtitle": "subtitle", "caption": "caption",
        "body": "body", "byline": "body"}


def labelled(r):
    """The page's text-layer lines (as newsrag reads them) and each line's role."""
    from ingest.pages import lines_from_text

    items = text_layer_lines(r)
    lines = lines_from_text("\n".join(t for t, _, _ in items) + "\n")
    roles, seen = [], set()
    for _, role, sid in (x for x in items if x[0]):
        label = _MAP[role]
        if label == "body" and sid not in seen:
            label = "start"
            seen.add(sid)
        roles.append(label)
    assert len(lines) == len(roles), (len(lines), len(roles))
    return lines, roles


def transitions(pages: list, classes: list[str]) -> dict:
    """Log-probabilities of one line's role given the one before (within a block, across a
    blank line) and of a page's first role, counted on the training pages (add-one)."""
    import numpy as np

    k = {c: j for j, c in enumerate(classes)}
    same, new, first = np.ones((len(classes), len(classes))), np.ones((len(classes), len(classes))), np.ones(len(classes))
    for lines, roles in pages:
        if roles:
            first[k[roles[0]]] += 1
        for i in range(1, len(roles)):
            (new if lines[i - 1].block != lines[i].block else same)[k[roles[i - 1]], k[roles[i]]] += 1
    norm = lambda m: np.log(m / m.sum(axis=-1, keepdims=True)).round(4).tolist()  # noqa: E731
    return {"same": norm(same), "new": norm(new), "first": norm(first)}


def _boosted(args):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # no early stopping and some L2 on the leaves: with neither, sklearn's multinomial loss blew up on
    # a few near-pure leaves and its early stopping kept 11 rounds of 250
    return HistGradientBoostingClassifier(max_iter=args.trees, max_leaf_nodes=args.leaves, l2_regularization=args.l2,
                                          learning_rate=args.rate, early_stopping=False, random_state=0)


def _dump(gb) -> dict:
    return {"baseline": gb._baseline_prediction.ravel().tolist(),
            "trees": [[{"feature": t.nodes["feature_idx"].tolist(),
                        "threshold": [round(float(v), 6) for v in t.nodes["num_threshold"]],
                        "left": t.nodes["left"].tolist(), "right": t.nodes["right"].tolist(),
                        "leaf": t.nodes["is_leaf"].astype(bool).tolist(),
                        "value": [round(float(v), 5) for v in t.nodes["value"]],
                        "depth": int(t.nodes["depth"].max()) + 1} for t in it] for it in gb._predictors]}


def fit(train: list, test: list, args, verbose: bool = False, kind: str | None = None) -> tuple[dict, dict]:
    """A logistic regression and gradient-boosted trees on the line features (the trees read
    twice: a second model on the first one's probabilities around each line, ``line_roles.context``,
    fitted on first readings of training pages the first model did not see, two folds); ``kind``
    (or, not given, the better on the ``test`` lines: pass held-out training pages there to choose)
    as ``ingest/line_roles.json`` stores it, and both accuracies on ``test``.
    ``train`` and ``test``: (lines, roles, features) per page."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from ingest.line_roles import _normal, context

    x_tr = np.vstack([f for _, _, f in train])
    y_tr = np.asarray([r for _, rs, _ in train for r in rs])
    x_te = np.vstack([f for _, _, f in test])
    y_te = np.asarray([r for _, rs, _ in test for r in rs])
    scaler = StandardScaler().fit(x_tr)
    scaler.scale_[scaler.scale_ == 0] = 1.0
    lr = LogisticRegression(max_iter=3000, C=3.0).fit(scaler.transform(x_tr), y_tr)
    gb = _boosted(args).fit(x_tr, y_tr)
    classes = [str(c) for c in gb.classes_]
    preds = {"logistic": lr.predict(scaler.transform(x_te)), "trees": gb.predict(x_te)}
    second = None
    if args.context:
        half = len(train) // 2
        firsts = []
        for lo, hi in ((0, half), (half, len(train))):
            rest = train[:lo] + train[hi:]
            g = _boosted(args).fit(np.vstack([f for _, _, f in rest]), np.asarray([r for _, rs, _ in rest for r in rs]))
            firsts += [np.hstack([f, context(ls, _normal(g._raw_predict(f)), classes)]) for ls, _, f in train[lo:hi]]
        second = _boosted(args).fit(np.vstack(firsts), y_tr)
        x2 = np.vstack([np.hstack([f, context(ls, _normal(gb._raw_predict(f)), classes)]) for ls, _, f in test])
        preds["trees"] = second.predict(x2)
    accs = {k: float((v == y_te).mean()) for k, v in preds.items()}
    if verbose:
        for name, pred in preds.items():
            per = {c: f"{float((pred[y_te == c] == c).mean()):.3f}" for c in ROLES if (y_te == c).any()}
            print(f"{name}: line accuracy {accs[name]:.3f}; recall per role {per}")
    kind = kind or max(accs, key=accs.get)
    model = {"kind": kind, "features": FEATURES, "classes": [str(c) for c in lr.classes_],
             "trained_on": f"{len(x_tr)} lines of pages of tests/newspages.py ({Path(args.texts).name if args.texts else 'fixtures'})",
             "test_line_accuracy": round(accs[kind], 4)}
    if kind == "logistic":
        model.update(mean=scaler.mean_.tolist(), scale=scaler.scale_.tolist(), coef=lr.coef_.tolist(),
                     intercept=lr.intercept_.tolist())
    else:
        assert list(gb.classes_) == list(lr.classes_)
        model.update(_dump(gb))
        if second is not None:
            model["context"] = _dump(second)
    return model, accs


def _store(model: dict) -> None:
    WEIGHTS.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def exact_on(pages: list, how: str) -> tuple[int, int, int, int]:
    """Articles exact, articles, foreign lines and pieces found on text layers read ``how``."""
    from ingest.articles import segment
    from ingest.pages import read_file

    exact, n, foreign, pieces = 0, 0, 0, 0
    for r in pages:
        page = replace(read_file(r.txt).pages[0], paper=r.plan["paper"])
        sc = score_page(segment(page, how).articles, r)
        exact += sum(sc.exact)
        n += len(sc.exact)
        foreign += sum(sc.foreign)
        pieces += sc.pieces
    return exact, n, foreign, pieces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--train", type=int, default=900)
    ap.add_argument("--trees", type=int, default=120, help="boosting rounds")
    ap.add_argument("--leaves", type=int, default=31, help="leaves per tree")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 regularisation of the trees' leaves")
    ap.add_argument("--rate", type=float, default=0.1, help="the trees' learning rate")
    ap.add_argument("--no-context", dest="context", action="store_false",
                    help="read once (no second model on the first one's probabilities around each line)")
    ap.add_argument("--texts", default=None)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    import numpy as np

    pool = TextPool.from_jsonl(args.texts) if args.texts else TextPool.fixtures()
    test_pages = build(corpus_plans(args.pages, pool), pool, 0)
    train_pages = build(corpus_plans(args.train + 3, pool, first_seed=TRAIN_SEED)[3:], pool, 0)
    pages = train_pages + test_pages
    train_ids = list(range(len(train_pages)))
    test_ids = list(range(len(train_pages), len(pages)))
    data = {i: labelled(pages[i]) for i in range(len(pages))}
    data = {i: (ls, rs, np.asarray(features(ls), dtype=float)) for i, (ls, rs) in data.items()}
    y_tr = np.asarray([r for i in train_ids for r in data[i][1]])
    y_te = np.asarray([r for i in test_ids for r in data[i][1]])
    classes = sorted(set(y_tr.tolist()))
    trans = transitions([data[i][:2] for i in train_ids], classes)
    prior = np.log(np.asarray([(y_tr == c).sum() for c in classes], dtype=float) / len(y_tr))
    print(f"{len(train_ids)} training pages ({len(y_tr)} lines), {len(test_ids)} test pages ({len(y_te)} lines)", flush=True)
    # the classifier (logistic or trees) chosen on training pages held out of a model fitted to
    # the others, not on the test pages measured below
    val = train_ids[-len(train_ids) // 6:]
    fit_ids = train_ids[: -len(train_ids) // 6]
    held, held_accs = fit([data[i] for i in fit_ids], [data[i] for i in val], args)
    print(f"held-out training pages ({len(val)}): line accuracy "
          f"{', '.join(f'{k} {v:.3f}' for k, v in held_accs.items())}; {held['kind']} chosen", flush=True)
    model, accs = fit([data[i] for i in train_ids], [data[i] for i in test_ids], args, verbose=True, kind=held["kind"])
    if args.write:
        from ingest import line_roles

        # how much of the class prior the sequence decoding takes off each line's posterior
        # (rare roles, a story's first line, a title, are otherwise drowned by body lines):
        # chosen on the held-out training pages, by articles exact
        scores = {}
        for w in (0.0, 0.25, 0.5, 0.75, 1.0):
            held.update(transitions=trans, prior=prior.round(4).tolist(), prior_weight=w)
            _store(held)
            line_roles._model.cache_clear()
            line_roles._trees.cache_clear()
            scores[w] = exact_on([pages[i] for i in val], "roles")[0]
            print(f"prior weight {w}: {scores[w]} articles exact on {len(val)} validation pages")
        best = max(scores, key=lambda w: (scores[w], -w))
        model.update(transitions=trans, prior=prior.round(4).tolist(), prior_weight=best)
        _store(model)
        print(f"wrote {WEIGHTS} (prior weight {best})")
        line_roles._model.cache_clear()
        line_roles._trees.cache_clear()
    if not WEIGHTS.is_file():
        return
    from ingest import line_roles

    for seq in (False, True):
        got = [r for i in test_ids for r in line_roles.predict(data[i][0], sequence=seq)]
        print(f"shipped model, {'as a sequence' if seq else 'line by line'}: line accuracy "
              f"{float((np.asarray(got) == y_te).mean()):.3f}")
    print("\n| text segmenter | test pages | articles exact | foreign lines | pieces / articles |")
    print("|---|---|---|---|---|")
    for how in ("rules", "roles", "auto"):
        exact, n, foreign, pieces = exact_on([pages[i] for i in test_ids], how)
        print(f"| {how} | {len(test_ids)} | {100 * exact / max(n, 1):.1f}% ({exact}/{n}) | {foreign} | {pieces} / {n} |")
    print(Counter(y_te.tolist()))


if __name__ == "__main__":
    main()
