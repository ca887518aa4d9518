"""Line roles of text layers learned from generated pages, against today's rules.

    python -m bench.line_roles [--pages 300] [--train 300] [--texts PATH] [--write]

Pages come from ``tests/newspages.py`` through ``bench.segmentation``'s cache (rendered on
first use). The model learns from ``--train`` pages of their own seeds (10,000 on) and is
measured on the ``--pages`` pages ``bench.segmentation`` measures (seeds 0 on, the seed
e-paper page and the two other-paper pages first), none of which it saw. Per line, the
learned classifier's roles (``ingest/line_roles.py``: a multinomial logistic regression and
gradient-boosted trees on line features, the better shipped), line by line and decoded as a
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


def fit(x_tr, y_tr, x_te, y_te, args, verbose: bool = False) -> tuple[dict, dict]:
    """A logistic regression and gradient-boosted trees on the line features; the better on the
    test lines as ``ingest/line_roles.json`` stores it, and both accuracies."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_tr)
    scaler.scale_[scaler.scale_ == 0] = 1.0
    lr = LogisticRegression(max_iter=3000, C=3.0).fit(scaler.transform(x_tr), y_tr)
    gb = HistGradientBoostingClassifier(max_iter=args.trees, max_leaf_nodes=args.leaves, random_state=0).fit(x_tr, y_tr)
    preds = {"logistic": lr.predict(scaler.transform(x_te)), "trees": gb.predict(x_te)}
    accs = {k: float((v == y_te).mean()) for k, v in preds.items()}
    if verbose:
        for name, pred in preds.items():
            per = {c: f"{float((pred[y_te == c] == c).mean()):.3f}" for c in ROLES if (y_te == c).any()}
            print(f"{name}: line accuracy {accs[name]:.3f}; recall per role {per}")
    kind = max(accs, key=accs.get)
    model = {"kind": kind, "features": FEATURES, "classes": [str(c) for c in lr.classes_],
             "trained_on": f"{len(x_tr)} lines of pages of tests/newspages.py ({Path(args.texts).name if args.texts else 'fixtures'})",
             "test_line_accuracy": round(accs[kind], 4)}
    if kind == "logistic":
        model.update(mean=scaler.mean_.tolist(), scale=scaler.scale_.tolist(), coef=lr.coef_.tolist(),
                     intercept=lr.intercept_.tolist())
    else:
        assert list(gb.classes_) == list(lr.classes_)
        model["baseline"] = gb._baseline_prediction.ravel().tolist()
        model["trees"] = [[{"feature": t.nodes["feature_idx"].tolist(),
                            "threshold": [round(float(v), 6) for v in t.nodes["num_threshold"]],
                            "left": t.nodes["left"].tolist(), "right": t.nodes["right"].tolist(),
                            "leaf": t.nodes["is_leaf"].astype(bool).tolist(),
                            "value": [round(float(v), 5) for v in t.nodes["value"]],
                            "depth": int(t.nodes["depth"].max()) + 1} for t in it] for it in gb._predictors]
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
    ap.add_argument("--trees", type=int, default=250, help="boosting rounds")
    ap.add_argument("--leaves", type=int, default=31, help="leaves per tree")
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
    x_tr = np.asarray([f for i in train_ids for f in features(data[i][0])])
    y_tr = np.asarray([r for i in train_ids for r in data[i][1]])
    x_te = np.asarray([f for i in test_ids for f in features(data[i][0])])
    y_te = np.asarray([r for i in test_ids for r in data[i][1]])
    classes = sorted(set(y_tr.tolist()))
    trans = transitions([data[i] for i in train_ids], classes)
    prior = np.log(np.asarray([(y_tr == c).sum() for c in classes], dtype=float) / len(y_tr))
    print(f"{len(train_ids)} training pages ({len(y_tr)} lines), {len(test_ids)} test pages ({len(y_te)} lines)")
    model, accs = fit(x_tr, y_tr, x_te, y_te, args, verbose=True)
    if args.write:
        from ingest import line_roles

        # how much of the class prior the sequence decoding takes off each line's posterior
        # (rare roles, a story's first line, a title, are otherwise drowned by body lines):
        # chosen on training pages held out of a model fitted to the others, by articles exact
        val = train_ids[-len(train_ids) // 6:]
        fit_ids = train_ids[: -len(train_ids) // 6]
        xs = np.asarray([f for i in fit_ids for f in features(data[i][0])])
        ys = np.asarray([r for i in fit_ids for r in data[i][1]])
        held, _ = fit(xs, ys, x_te, y_te, args)
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
