"""The learned scores of drafting: how likely a candidate sentence is to state a key fact of
the criterion, and how likely a criterion's evidence is to hold no answer at all.

Both are logistic models over features a reader can check (below, one line each), trained
by `python bench/learn.py` on the labelled development collections (a sentence is positive
when it contains one of the criterion's expected key terms; a criterion is a gap when it
has none), leave-one-collection-out for the figures, then on all three for the weights that
ship in kb/data/params.toml ([scoring]). With no weights there the drafter keeps its
hand-set score (kb.extract) and abstention its two thresholds.
"""
from __future__ import annotations

import math
import re

from kb import params

# --- sentence features: name → what it measures ------------------------------------------------
SENTENCE_FEATURES = {
    "hand": "the hand-set score of kb.extract (coverage, context, names, rank, length, generic damping)",
    "rel": "share of the criterion's idf-weighted words the sentence carries",
    "ctx": "the same for its heading, list lead-in or preceding sentence",
    "passage": "the same for the whole passage it sits in",
    "trigrams": "share of the criterion wording's character trigrams found in the sentence",
    "first_doc": "1 when it is from the best evidence document",
    "doc_rank": "rank of its document among the evidence (0 = best), capped at 5",
    "read_more": "1 when its passage was read beyond the evidence's own passages (more of a document)",
    "names": "named things it states (systems, programmes, Latin names, figures), capped at 5",
    "figures": "figures it states, capped at 5",
    "latin": "Latin-script names it states (system names such as DocuTrack), capped at 5",
    "tokens": "log of its number of content words",
    "pair": "1 for two neighbouring sentences offered together",
    "whole_list": "1 for a short list offered whole",
    "row": "1 for a table row",
    "in_list": "1 for an item of a list or table",
    "fragment": "1 when it is part of a longer sentence (starts or ends with …)",
    "generic": "share of the form's other criteria whose words it carries as well as this one's",
    "previous": "system, programme or document names it shares with last year's answer, capped at 2",
    "corroborated": "its names (not figures) that another evidence document states too, capped at 3",
    "dense_gap": "embedding cosine of its passage to the criterion minus the best passage's (≤ 0)",
    "hand_share": "its hand-set score as a share of the criterion's best candidate's",
    "rel_share": "its `rel` as a share of the criterion's best candidate's",
    "ctx_share": "its `ctx` as a share of the criterion's best candidate's",
    "passage_share": "its `passage` as a share of the criterion's best candidate's",
}
# the features taken relative to the best candidate of the same criterion: scales differ
# between criteria (long wordings, rare words) and between collections
_SHARES = {"hand_share": "hand", "rel_share": "rel", "ctx_share": "ctx", "passage_share": "passage"}

# --- criterion features (abstention) ---------------------------------------------------------
ABSTAIN_FEATURES = {
    "support": "the best sentence's coverage of the criterion's words (context at half)",
    "closeness": "the embedding model's best cosine to any passage minus that model's floor",
    "best": "the learned score of the best sentence",
    "top3": "the mean learned score of the three best sentences",
}

_NUMBER = re.compile(r"^[0-9๐-๙]")
_LATIN = re.compile(r"^[A-Za-z]")


def trigrams(text: str) -> frozenset[str]:
    s = "".join(text.split())
    return frozenset(s[i:i + 3] for i in range(len(s) - 2))


def sentence_features(c, wording: frozenset[str], closeness: dict[str, float],
                      best_closeness: float) -> dict[str, float]:
    """The features of one kb.extract.Candidate that need no other candidate; `wording`:
    trigrams of the criterion's wording; `closeness`: chunk id → its passage's cosine."""
    text = c.text
    names = c.names
    return {
        "hand": c.hand,
        "rel": c.rel,
        "ctx": c.ctx,
        "passage": c.prel,
        "trigrams": len(trigrams(text) & wording) / len(wording) if wording else 0.0,
        "first_doc": float(c.doc_rank == 0),
        "doc_rank": float(min(c.doc_rank, 5)),
        "read_more": float(not getattr(c.hit, "score", 0.0)),
        "names": float(min(len(names), 5)),
        "figures": float(min(sum(1 for n in names if _NUMBER.match(n)), 5)),
        "latin": float(min(sum(1 for n in names if _LATIN.match(n)), 5)),
        "tokens": math.log1p(len(c.tokens)),
        "pair": float(not c.single and not c.whole_list),
        "whole_list": float(c.whole_list),
        "row": float(" | " in text),
        "in_list": float(c.group is not None),
        "fragment": float(text.startswith("…") or text.endswith("…")),
        "generic": c.generic,
        "previous": float(c.previous),
        "corroborated": float(c.corroborated),
        "dense_gap": closeness.get(c.hit.chunk_id, best_closeness) - best_closeness,
    }


def _known(weights: dict, names: dict, table: str) -> None:
    unknown = sorted(set(weights) - set(names))
    if unknown:    # a typo must not silently drop a feature
        raise ValueError(f"params [scoring.{table}]: unknown feature(s) {', '.join(unknown)}")


def _logistic(bias: float, weights: dict[str, float], x: dict[str, float]) -> float:
    z = bias + sum(w * x.get(name, 0.0) for name, w in weights.items())
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


def features(cands, criterion, closeness: dict[str, float] | None = None) -> list[dict[str, float]]:
    """Every candidate's features; the hand-set score in force is kept as `hand` first.
    `closeness`: chunk id → the embedding cosine of that passage to the criterion."""
    wording = trigrams(criterion.wording + " " + " ".join(sp.label for sp in criterion.subprompts))
    closeness = closeness or {}
    best = max(closeness.values(), default=0.0)
    for c in cands:
        c.hand = c.score
    rows = [sentence_features(c, wording, closeness, best) for c in cands]
    for share, of in _SHARES.items():
        top = max((x[of] for x in rows), default=0.0) or 1.0
        for x in rows:
            x[share] = x[of] / top
    return rows


def rescore(cands, criterion, closeness: dict[str, float] | None = None) -> bool:
    """Replace each candidate's score by the learned probability that it states a key fact
    (the hand-set score stays in `hand`, one of the features). False when params.toml has
    no learned weights (the hand-set score then stays the score)."""
    p = params.active().scoring
    if not p.weights:
        return False
    _known(p.weights, SENTENCE_FEATURES, "weights")
    for c, x in zip(cands, features(cands, criterion, closeness)):
        c.score = _logistic(p.bias, p.weights, x)
    return True


def abstain_features(support: float, closeness: float | None, floor: float | None,
                     cands) -> dict[str, float]:
    top = sorted((c.score for c in cands), reverse=True)[:3]
    return {"support": support,
            "closeness": (closeness - floor) if closeness is not None and floor is not None else 0.0,
            "best": top[0] if top else 0.0,
            "top3": sum(top) / 3 if top else 0.0}


def gap_probability(x: dict[str, float]) -> float | None:
    """The learned probability that the criterion has no answer in the evidence (None: no
    learned abstention weights in params.toml)."""
    p = params.active().scoring
    if not p.abstain_weights:
        return None
    _known(p.abstain_weights, ABSTAIN_FEATURES, "abstain_weights")
    return _logistic(p.abstain_bias, p.abstain_weights, x)
