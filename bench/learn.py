"""Learn the drafter's sentence score and its abstention rule, leave-one-collection-out.

    python bench/learn.py [--no-abstain-model] [--grid] [--write]

The labelled development collections (corpus/ and the two agency collections, as in
bench/crossval.py) say which candidate sentences carry a key fact: a sentence is positive
when it contains one of its criterion's expected key terms (expect.tsv). A logistic
regression over the features of kb.scoring is trained on two collections; the drafts of
the third are then written with it and scored (key-term recall, median items, unsupported
facts). Abstention is learned the same way, per criterion (a gap: no expected terms), over
the support, closeness and learned scores of the best sentences.

Each agency collection is used twice, as an agency starts (no form) and with its
previous_form.docx loaded (last year's answers also steer the evidence, and the sentence
feature `previous` is then non-zero); one model is trained on both. Printed: per collection
and variant the held-out figures (models trained on the other two collections) beside the
hand-set drafter's on the same evidence and the in-sample ones (models trained on all
three), and the spread between folds. `--write` puts the models trained on all three into
kb/data/params.toml ([scoring]), which is what ships.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import crossval                                            # noqa: E402

from kb import extract, params, scoring                    # noqa: E402
from kb.bundle import build_bundle                         # noqa: E402
from kb.draft import draft                                 # noqa: E402
from kb.evaluate import _term_key, read_expect             # noqa: E402

# Regularisation of both logistic models (sklearn's C): a small model on few collections.
C_SENTENCES = 0.5
C_ABSTAIN = 0.5
# With --grid, the drafter's selection values are chosen anew on top of the learned score
# (per fold, on the two training collections, by bench/crossval.py's draft objective).
SELECTION_GRID = {
    "draft.max_items": [5, 6],
    "draft.from_best_document": [2, 3],
    "draft.novelty": [0.0, 0.3],
}


class Collected:
    """One collection's criteria, their evidence bundles and expected key terms."""

    def __init__(self, kb, c: crossval.Collection):
        expect = read_expect(c.expect)
        known = {x.code for x in kb.catalogue.criteria()}
        self.name = c.name
        self.variant = ""
        self.codes = [code for code in expect if code in known]
        self.terms = {code: expect[code] for code in self.codes}
        self.criteria = {code: kb.catalogue.get(code) for code in self.codes}
        self.bundles = {code: build_bundle(kb, self.criteria[code]) for code in self.codes}
        self._candidates: dict[tuple, list] = {}

    def candidates(self, code: str):
        """The drafter's candidates with their hand-set scores (as kb.draft.draft makes them),
        made once per set of the values they depend on: the selection values of a grid are
        read only when the items are picked (kb.extract.select)."""
        key = (code, repr(replace(params.active().draft, **{k.split(".")[1]: None for k in SELECTION_GRID})))
        if key not in self._candidates:
            self._candidates[key] = extract.from_bundle(self.criteria[code], self.bundles[code])
        return [copy.copy(c) for c in self._candidates[key]]      # scoring rewrites .score

    def sentence_rows(self):
        xs, ys = [], []
        for code in self.codes:
            keys = [_term_key(t) for t in self.terms[code]]
            cands = self.candidates(code)
            for c, x in zip(cands, scoring.features(cands, self.criteria[code],
                                                    self.bundles[code].passage_closeness)):
                xs.append(x)
                ys.append(int(any(k in _term_key(c.text) for k in keys)))
        return xs, ys

    def abstain_rows(self, model: params.Params):
        """Per criterion: the abstention features under a sentence model, and 1 for a gap."""
        xs, ys = [], []
        floor = model.abstain.closeness_floor
        with params.using(model):
            for code in self.codes:
                b = self.bundles[code]
                cands = self.candidates(code)
                scoring.rescore(cands, self.criteria[code], b.passage_closeness)
                support = extract.support(self.criteria[code], cands, b.weights)
                xs.append(scoring.abstain_features(support, b.closeness, floor.get(b.model), cands))
                ys.append(int(not self.terms[code]))
        return xs, ys

    def score(self, model: params.Params) -> dict:
        """The drafts under `model`: recall over expected terms, abstention, items, bad facts."""
        found = total = right = bad = 0
        items = []
        with params.using(model):
            for code in self.codes:
                d = draft(self.criteria[code], self.bundles[code], candidates=self.candidates(code))
                terms = self.terms[code]
                right += d.abstained == (not terms)
                total += len(terms)
                body = _term_key(" ".join(s.text for s in d.sentences))
                found += sum(_term_key(t) in body for t in terms)
                if not d.abstained:
                    items.append(len(d.sentences))
                    bad += sum(len(s.unsupported_facts) for s in d.sentences)
        return {"key_term_recall": round(found / total, 4) if total else None,
                "abstention_accuracy": round(right / len(self.codes), 4),
                "median_items": statistics.median(items) if items else 0,
                "unsupported_facts": bad}


def fit(xs: list[dict], ys: list[int], names: list[str], c: float, balanced: bool = False):
    """(bias, weights) of a logistic regression on standardised features, with the scaling
    folded back so that the weights apply to the raw features."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    X = np.array([[x[n] for n in names] for x in xs], dtype=float)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd == 0] = 1.0
    lr = LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if balanced else None)
    lr.fit((X - mu) / sd, np.array(ys))
    w = lr.coef_[0] / sd
    b = float(lr.intercept_[0] - (w * mu).sum())
    return round(b, 4), {n: round(float(v), 4) for n, v in zip(names, w)}


def train(colls: list[Collected], base: params.Params) -> params.Params:
    names = list(scoring.SENTENCE_FEATURES)
    xs, ys = [], []
    for c in colls:
        x, y = c.sentence_rows()
        xs += x
        ys += y
    bias, weights = fit(xs, ys, names, C_SENTENCES)
    model = base.with_values(**{"scoring.bias": bias, "scoring.weights": weights,
                                "scoring.abstain_weights": {}})
    xs, ys = [], []
    for c in colls:
        x, y = c.abstain_rows(model)
        xs += x
        ys += y
    abias, aweights = fit(xs, ys, list(scoring.ABSTAIN_FEATURES), C_ABSTAIN)
    return model.with_values(**{"scoring.abstain_bias": abias, "scoring.abstain_weights": aweights})


def write(model: params.Params, path: Path) -> None:
    """Replace the [scoring] section at the end of params.toml (everything after its marker);
    selection values chosen with --grid are printed, to be set in [draft] by hand."""
    marker = "# --- learned (bench/learn.py --write) ---"
    text = path.read_text(encoding="utf-8")
    head = text.split(marker)[0].rstrip() + "\n\n"
    s = model.scoring
    lines = [marker,
             "# Logistic models of kb.scoring, trained on all three development collections (each",
             "# agency with and without its previous form); features are documented there.",
             "# Held-out figures: docs/benchmarks.md.",
             "[scoring]", f"bias = {s.bias}"]
    if s.abstain_weights:
        lines += [f"abstain_bias = {s.abstain_bias}", f"abstain_at = {s.abstain_at}"]
    else:
        lines += ["# Abstention: the thresholds of [abstain] (the learned rule was no better held-out)."]
    lines += ["", "[scoring.weights]"] + [f"{k} = {v}" for k, v in s.weights.items()]
    if s.abstain_weights:
        lines += ["", "[scoring.abstain_weights]"] + [f"{k} = {v}" for k, v in s.abstain_weights.items()]
    path.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agencies", type=Path, default=ROOT.parent / "shared/eval/agencies")
    ap.add_argument("--cache", type=Path, default=ROOT / ".kb-crossval")
    ap.add_argument("--write", action="store_true", help="ship the models trained on all three")
    ap.add_argument("--grid", action="store_true", help="also choose the selection values (SELECTION_GRID)")
    ap.add_argument("--no-abstain-model", action="store_true",
                    help="keep the threshold rule of [abstain] instead of the learned one")
    args = ap.parse_args(argv)
    # the hand-set drafter with no learned weights is the baseline and the source of `hand`
    hand = params.active().with_values(**{"scoring.weights": {}, "scoring.abstain_weights": {}})
    # every collection as an agency starts (no form), and agencies again with last year's form
    # loaded: one model is trained on both, so that it serves either
    variants: dict[str, list[Collected]] = {}
    with params.using(hand):
        for c in crossval.collections(args.agencies):
            # corpus/ was written from the catalogue's example answers: never ask with them there
            own = hand.with_values(**{"evidence.weight_example": 0.0}) if c.example_is_own else hand
            for with_form in ([False, True] if c.previous else [False]):
                kb = crossval.open_collection(c, args.cache, with_form)
                t0 = time.perf_counter()
                with params.using(own):
                    got = Collected(kb, c)
                got.variant = "with the previous form" if with_form else "without a form"
                variants.setdefault(c.name, []).append(got)
                kb.store.close()
                print(f"# {c.name} {got.variant}: {len(got.codes)} bundles in {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr)
    out = {"folds": {}}

    def trained(on):
        model = train(on, hand)
        if args.no_abstain_model:
            model = model.with_values(**{"scoring.abstain_weights": {}})
        if not args.grid:
            return model, {}
        points = crossval._grid(SELECTION_GRID)
        table = {i: [c.score(model.with_values(**pt)) for c in on] for i, pt in enumerate(points)}
        best = max(table, key=lambda i: (statistics.mean(crossval.draft_objective(m) for m in table[i]), -i))
        return model.with_values(**points[best]), points[best]

    everything = [v for vs in variants.values() for v in vs]
    for held, mine in variants.items():
        model, chosen = trained([v for v in everything if v.name != held])
        out["folds"][held] = {v.variant: {"held_out": v.score(model), "hand_set": v.score(hand)} for v in mine}
        out["folds"][held]["chosen"] = chosen
    everywhere, chosen = trained(everything)
    out["chosen_on_all"] = chosen
    for v in everything:
        out["folds"][v.name][v.variant]["in_sample"] = v.score(everywhere)
    for variant in ("without a form", "with the previous form"):
        recalls = [f[variant]["held_out"]["key_term_recall"] for f in out["folds"].values() if variant in f]
        out[f"spread_held_out {variant}"] = round(max(recalls) - min(recalls), 4)
    out["model"] = {"bias": everywhere.scoring.bias, "weights": everywhere.scoring.weights,
                    "abstain_bias": everywhere.scoring.abstain_bias,
                    "abstain_weights": everywhere.scoring.abstain_weights}
    print(json.dumps(out, ensure_ascii=False, indent=1))
    if args.write:
        write(everywhere, params.DEFAULT_PATH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
