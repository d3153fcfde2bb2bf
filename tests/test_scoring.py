"""The learned sentence score and abstention rule (kb.scoring) and their training (bench/learn.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from kb import params, scoring
from kb.extract import Candidate, _names, _tokens, should_abstain

ROOT = Path(__file__).resolve().parents[1]


def cand(text, rel=0.2, rank=0, score=1.0):
    hit = SimpleNamespace(score=0.5, chunk_id="d:1")
    return Candidate(text, _tokens(text), hit, rank, (0, 0), rel=rel, score=score,
                     names=frozenset(_names(text)))


CRITERION = SimpleNamespace(wording="มีการนำระบบดิจิทัลมาใช้ในการให้บริการ", subprompts=[])


def test_every_feature_is_documented_and_computed():
    c = cand("ระบบ DocuTrack ลดเวลารอคอยลงร้อยละ 35")
    x = scoring.features([c], CRITERION)[0]
    assert set(x) == set(scoring.SENTENCE_FEATURES)
    assert x["latin"] == 1 and x["figures"] == 1 and x["first_doc"] == 1 and x["hand"] == 1.0
    assert 0 < x["trigrams"] < 1


def test_learned_weights_replace_the_hand_set_score_and_none_keep_it():
    named, plain = cand("ระบบ DocuTrack ให้บริการออนไลน์", score=0.2), cand("มีการให้บริการที่ดี", score=0.9)
    with params.using(params.active().with_values(**{"scoring.weights": {}})):
        assert not scoring.rescore([named, plain], CRITERION)
    assert (named.score, plain.score) == (0.2, 0.9)
    model = params.active().with_values(**{"scoring.bias": -1.0, "scoring.weights": {"latin": 3.0}})
    with params.using(model):
        assert scoring.rescore([named, plain], CRITERION)
    assert named.score == pytest.approx(1 / (1 + 2.718281828 ** -2.0), rel=1e-6)
    assert plain.score == pytest.approx(1 / (1 + 2.718281828 ** 1.0), rel=1e-6)
    assert named.hand == 0.2 and plain.hand == 0.9             # the hand-set score is a feature


def test_learned_abstention_decides_when_it_has_weights():
    weak, strong = [cand("x", score=0.05)], [cand("x", score=0.9)]
    model = params.active().with_values(**{"scoring.abstain_bias": 2.0,
                                           "scoring.abstain_weights": {"best": -6.0}})
    with params.using(model):
        assert should_abstain(0.5, 0.9, "m", weak)             # high support, yet no likely fact
        assert not should_abstain(0.5, 0.9, "m", strong)
    with params.using(model.with_values(**{"scoring.abstain_weights": {}, "abstain.below": 0.1})):
        assert should_abstain(0.05, None, "m", strong)         # thresholds again
        assert not should_abstain(0.5, None, "m", weak)


def test_fit_folds_the_scaling_into_weights_on_raw_features():
    sys.path.insert(0, str(ROOT / "bench"))
    from learn import fit
    xs = [{"a": float(i), "b": 100.0 + 10 * (i % 3)} for i in range(40)]
    ys = [int(i >= 20) for i in range(40)]
    bias, weights = fit(xs, ys, ["a", "b"], c=1.0)
    probs = [scoring._logistic(bias, weights, x) for x in xs]
    assert all(p > 0.5 for p in probs[25:]) and all(p < 0.5 for p in probs[:15])
    assert weights["a"] > 0


def test_shipped_params_load_the_scoring_section_and_unknown_features_are_an_error(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[scoring]\nbias = -2.0\n\n[scoring.weights]\nrel = 1.5\n", encoding="utf-8")
    p = params.load(f)
    assert p.scoring.bias == -2.0 and p.scoring.weights == {"rel": 1.5}
    f.write_text("[scoring.weights]\nrell = 1.5\n", encoding="utf-8")
    with params.using(params.load(f)), pytest.raises(ValueError, match="rell"):
        scoring.rescore([cand("ระบบ")], CRITERION)
    assert set(params.load().scoring.weights) == set(scoring.SENTENCE_FEATURES)   # what ships
