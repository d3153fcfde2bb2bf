#!/usr/bin/env python3
"""Benchmark and calibrate the drafter on the sample corpus.

    python bench/drafts.py                      # draft all 94 criteria, time it, score vs the expect file
    python bench/drafts.py --calibrate          # also: the abstention signal per criterion and the best threshold
    python bench/drafts.py --store DIR          # reuse a store (default: $KB_DATA_DIR or /tmp/draft-dev-store)

The store is built from --docs (default corpus/) the first time and reused afterwards, since
embedding the corpus takes minutes on a 2-core machine and drafting is what is measured here.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=Path, default=ROOT / "corpus")
    ap.add_argument("--expect", type=Path, default=ROOT / "corpus" / "drafts-expect.tsv")
    ap.add_argument("--store", type=Path, default=Path(os.environ.get("KB_DATA_DIR") or "/tmp/draft-dev-store"))
    ap.add_argument("--drafter", default="extractive", choices=["extractive", "llm"])
    ap.add_argument("--calibrate", action="store_true")
    args = ap.parse_args()

    from kb.config import Settings
    from kb.draft import draft_criterion
    from kb.evaluate import read_expect, score_drafts
    from kb.service import KnowledgeBase

    kb = KnowledgeBase(replace(Settings.from_env(), data_dir=args.store, chroma_url=None))
    if not kb.store.stats()["documents"]:
        kb.ingest([args.docs], progress=True)
    codes = [c.code for c in kb.catalogue.criteria()]

    # 1. the bar: every criterion drafted, wall-clock time (evidence retrieval included)
    kb.search("warm up", k=1)       # load the embedding model outside the timing
    t0 = time.perf_counter()
    drafts, each = {}, {}
    for code in codes:
        t = time.perf_counter()
        drafts[code] = draft_criterion(kb, code, drafter=args.drafter)
        each[code] = time.perf_counter() - t
    elapsed = time.perf_counter() - t0
    result = {"store": str(args.store), "documents": kb.store.stats()["documents"],
              "criteria": len(codes), "seconds_all": round(elapsed, 1),
              "seconds_per_draft": round(elapsed / len(codes), 3),
              "slowest": sorted(((round(v, 2), c) for c, v in each.items()), reverse=True)[:3],
              "abstained": sum(d.abstained for d in drafts.values())}

    # 2. quality against the expect file
    if args.expect.is_file():
        expect = read_expect(args.expect)
        result["scores"] = score_drafts(kb, expect, drafter=args.drafter, progress=False, drafts=drafts)
        result["scores"]["seconds_per_draft"] = result["seconds_per_draft"]
        if args.calibrate:
            result["calibration"] = calibrate(drafts, expect, kb.store.meta("embed_model") or "")
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


def calibrate(drafts, expect, model: str) -> dict:
    """Abstention accuracy of the shipped rule, of support alone at each threshold, and of each
    closeness floor under the shipped weak-support bound; the two signals per criterion."""
    from kb import extract, params
    shipped = params.active().abstain
    rows = sorted((d.support, d.closeness, not expect[c], c) for c, d in drafts.items() if c in expect)

    def accuracy(rule) -> float:
        return round(sum(rule(s, near) == should for s, near, should, _ in rows) / len(rows), 4)

    def best(candidates, rule_for) -> tuple[float, float]:
        return max(((t, accuracy(rule_for(t))) for t in sorted(candidates)), key=lambda ta: (ta[1], -ta[0]))

    support_only = best({round(s, 3) for s, *_ in rows} | {0.0}, lambda t: lambda s, near: s < t)
    floors = {round(n + 0.0005, 4) for _, n, *_ in rows if n is not None}
    floor = best(floors, lambda t: lambda s, near: s < shipped.below
                 or (s < shipped.weak_support and near is not None and near < t))
    return {"shipped_rule_accuracy": accuracy(lambda s, near: extract.should_abstain(s, near, model)),
            "best_support_only": {"threshold": support_only[0], "accuracy": support_only[1]},
            "best_closeness_floor": {"floor": floor[0], "accuracy": floor[1],
                                     "weak_support": shipped.weak_support},
            "signal": [(c, round(s, 3), near, "abstain" if should else "draft")
                       for s, near, should, c in rows]}


if __name__ == "__main__":
    sys.exit(main())
