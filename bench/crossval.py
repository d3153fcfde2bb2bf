"""Leave-one-collection-out choice of the tuned values in kb/data/params.toml.

    python bench/crossval.py criteria [--previous]     # evidence fusion values
    python bench/crossval.py drafts   [--previous]     # drafting caps and abstention thresholds

Three development collections: corpus/ (ours) and the two agency collections of
../shared/eval/agencies (written outside the project). For each collection in turn the values
are chosen on the other two (the mean of their figures) and the figure is reported on it:
that held-out figure is the one to quote; the in-sample one (chosen on all three, scored on
each) is printed beside it, with the spread between folds. The last line gives the values
chosen on all three: what params.toml should hold.

Each collection is ingested once into --cache (re-ingested when its files change) and every
retriever call is memoised, so a grid point costs only fusion (criteria) or drafting (drafts).
The shipped catalogue's example answers are the sample corpus's own source (corpus/ was
written from that form), so on corpus/ they are never used as queries: that would be reading
the answer key.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb import params                                     # noqa: E402
from kb.config import Settings                            # noqa: E402
from kb.evaluate import CUTOFF, read_expect, read_qrels, score_ranking  # noqa: E402


@dataclass
class Collection:
    name: str
    docs: Path
    qrels: Path
    expect: Path
    previous: Path | None = None
    example_is_own: bool = False     # the shipped example answers are this collection's own


def collections(agencies: Path) -> list[Collection]:
    out = [Collection("corpus", ROOT / "corpus", ROOT / "corpus/qrels.tsv",
                      ROOT / "corpus/drafts-expect.tsv", None, example_is_own=True)]
    for d in sorted(p for p in agencies.iterdir() if (p / "docs").is_dir()):
        form = d / "previous_form.docx"
        out.append(Collection(d.name, d / "docs", d / "qrels.tsv", d / "expect.tsv",
                              form if form.is_file() else None))
    return out


# --- one ingest per collection, memoised retrievers --------------------------------------------

def _stamp(c: Collection) -> str:
    h = hashlib.sha256()
    for f in sorted(c.docs.rglob("*")):
        if f.is_file():
            h.update(f"{f.relative_to(c.docs)}:{f.stat().st_size}:{int(f.stat().st_mtime)}".encode())
    for code in sorted((ROOT / "ingest").glob("*.py")):
        h.update(code.read_bytes())
    return h.hexdigest()[:16]


def open_collection(c: Collection, cache: Path, with_previous: bool):
    """The collection's cached store, with its previous form loaded or not as asked (the
    form only fills the previous-answers table, so one ingest serves both)."""
    from kb.evaluate import load_previous
    from kb.service import KnowledgeBase
    where = cache / c.name
    stamp = _stamp(c)
    fresh = (where / "STAMP").is_file() and (where / "STAMP").read_text() == stamp
    if not fresh and where.exists():
        import shutil
        shutil.rmtree(where)
    settings = replace(Settings.from_env(), data_dir=where, chroma_url=None)
    kb = KnowledgeBase(settings)
    if not fresh:
        t0 = time.perf_counter()
        kb.ingest([c.docs], progress=False)
        (where / "STAMP").write_text(stamp)
        print(f"# ingested {c.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    with kb.store.db:
        kb.store.db.execute("DELETE FROM previous_answers")
    if with_previous and c.previous:
        load_previous(kb, c.previous)
    _memoise(kb.retriever)
    return kb


def _memoise(retriever) -> None:
    """Cache lexical and dense runs by their arguments: a grid re-runs the same queries."""
    lexical, dense, cache = retriever.lexical, retriever.dense, {}

    def key(*args, **kw):
        return json.dumps([args, sorted(kw.items())], default=lambda o: repr(o), ensure_ascii=False)

    def lex(query, k=100, filters=None, level="chunk", terms="words"):
        q = tuple(query) if not isinstance(query, str) else query
        kk = key("L", q, k, repr(filters), level, terms)
        if kk not in cache:
            cache[kk] = lexical(query, k, filters, level=level, terms=terms) if filters is not None \
                else lexical(query, k, level=level, terms=terms)
        return cache[kk]

    def den(query, k=100, filters=None):
        kk = key("D", query, k, repr(filters))
        if kk not in cache:
            cache[kk] = dense(query, k, filters) if filters is not None else dense(query, k)
        return cache[kk]
    retriever.lexical, retriever.dense = lex, den


# --- criteria -------------------------------------------------------------------------------

FUSION_GRID = {
    "evidence.weight_dense": [0.5, 1.0],
    "evidence.weight_chars": [0.5, 1.0],
    "evidence.weight_doc": [0.5, 1.0, 2.0],
    "evidence.weight_example": [0.0, 0.5, 1.0, 1.5, 2.5],
}
PREVIOUS_GRID = {"evidence.weight_previous": [0.0, 1.0, 2.0, 3.0, 4.0]}
POST_GRID = {
    "evidence.generic_penalty": [0.0, 0.15, 0.3, 0.5, 0.8],
    "evidence.other_year": [1.0, 0.85, 0.7, 0.5],
}


def _grid(spec: dict) -> list[dict]:
    keys = list(spec)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(spec[k] for k in keys))]


def criteria_table(kb, c: Collection, base: params.Params, with_previous: bool) -> dict[str, float]:
    """Mean nDCG@10 of every grid point on one collection: config (JSON) → figure."""
    from kb.evidence import adjust, document_scores
    qrels = {code: q for code, q in read_qrels(c.qrels).items() if any(g > 0 for g in q.values())}
    criteria = kb.catalogue.criteria()
    years = kb._fiscal_years()
    year = kb.assessment_year()
    spec = dict(FUSION_GRID, **(PREVIOUS_GRID if with_previous else {}))
    out = {}
    for point in _grid(spec):
        p = base.with_values(**point)
        if c.example_is_own:
            p = p.with_values(**{"evidence.weight_example": 0.0})
        scores = {cr.code: document_scores(cr, kb.retriever, previous=kb.previous_answer(cr.code),
                                           p=p.evidence)[0] for cr in criteria}
        generality = {}
        for s in scores.values():
            for d, v in s.items():
                generality[d] = generality.get(d, 0.0) + v / len(criteria)
        for post in _grid(POST_GRID):
            per = []
            q = p.with_values(**post).evidence
            for code, rel in qrels.items():
                adj = adjust(scores.get(code, {}), q, generality, year, years)
                ranked = sorted(adj, key=lambda d: (-adj[d], d))[:CUTOFF]
                per.append(score_ranking(ranked, rel)["nDCG@10"])
            out[json.dumps(dict(point, **post), sort_keys=True)] = statistics.mean(per)
    return out


# --- drafts ---------------------------------------------------------------------------------

DRAFT_GRID = {
    "draft.max_items": [5, 6],
    "draft.max_with_parts": [8, 12],
    "draft.siblings_extra": [0, 2],
    "draft.concrete_bonus": [0.3, 0.8],
}
# With --previous the drafting values of params.toml (chosen without the form) stay, and only
# what the form adds is chosen: a coordinate step, so that the grid stays affordable.
PREVIOUS_DRAFT_GRID = {"draft.previous_bonus": [0.0, 0.3, 0.8]}
ABSTAIN_BELOW = [0.08, 0.1, 0.115, 0.13, 0.15, 0.17, 0.2]
ABSTAIN_WEAK = [0.15, 0.17, 0.2, 0.25, 0.3]
ABSTAIN_FLOOR = [0.82, 0.84, 0.85, 0.857, 0.865, 0.875, 0.89]
ITEMS_BAR = 8      # the bar: median items per answered draft


def drafts_table(kb, c: Collection, base: params.Params, with_previous: bool = False) -> dict[str, dict]:
    """Every grid point on one collection: config → recall, median items, abstention accuracy.
    Drafts are made once per drafting point with abstention off; each abstention rule is then
    applied to the recorded support and closeness (an abstained draft keeps no terms)."""
    from kb.draft import draft_criterion
    from kb.evaluate import _term_key
    expect = read_expect(c.expect)
    codes = [code for code in expect if code in {x.code for x in kb.catalogue.criteria()}]
    out = {}
    if c.example_is_own:        # as in criteria_table: never ask with corpus/'s own answer key
        base = base.with_values(**{"evidence.weight_example": 0.0})
    for point in _grid(PREVIOUS_DRAFT_GRID if with_previous else DRAFT_GRID):
        p = base.with_values(**point).with_values(**{"abstain.below": -1.0, "abstain.weak_support": -1.0})
        rows = []
        with params.using(p):
            for code in codes:
                d = draft_criterion(kb, code)
                body = _term_key(" ".join(s.text for s in d.sentences))
                found = sum(_term_key(t) in body for t in expect[code])
                bad = sum(len(s.unsupported_facts) for s in d.sentences)
                rows.append((code, d.support, d.closeness, found, len(expect[code]), len(d.sentences), bad))
        for below, weak, floor in itertools.product(ABSTAIN_BELOW, ABSTAIN_WEAK, ABSTAIN_FLOOR):
            if weak < below:
                continue
            right = found = total = 0
            items, bad = [], 0
            for code, support, near, f, n, k, b in rows:
                # the rule of kb.extract.should_abstain, on the recorded signals
                abstain = support < below or (support < weak and near is not None and near < floor)
                right += abstain == (n == 0)
                total += n
                if not abstain:
                    found += f
                    items.append(k)
                    bad += b
            key = json.dumps(dict(point, **{"abstain.below": below, "abstain.weak_support": weak,
                                            "abstain.floor": floor}), sort_keys=True)
            out[key] = {"key_term_recall": found / total if total else 0.0,
                        "abstention_accuracy": right / len(rows),
                        "median_items": statistics.median(items) if items else 0,
                        "unsupported_facts": bad}
    return out


def draft_objective(m: dict) -> float:
    """What drafting is tuned for: key-term recall and abstention accuracy together, with
    drafts longer than the bar's median of 8 items not allowed to buy recall by length."""
    penalty = 0.5 * max(0.0, m["median_items"] - ITEMS_BAR)
    return m["key_term_recall"] + m["abstention_accuracy"] - penalty


# --- leave one out --------------------------------------------------------------------------

def leave_one_out(tables: dict[str, dict], objective) -> dict:
    names = list(tables)
    keys = set.intersection(*(set(t) for t in tables.values()))
    folds = {}
    for held in names:
        train = [n for n in names if n != held]
        best = max(sorted(keys), key=lambda k: statistics.mean(objective(tables[n][k]) for n in train))
        folds[held] = {"chosen": json.loads(best), "held_out": tables[held][best]}
    everywhere = max(sorted(keys), key=lambda k: statistics.mean(objective(tables[n][k]) for n in names))
    return {"folds": folds, "chosen_on_all": json.loads(everywhere),
            "in_sample": {n: tables[n][everywhere] for n in names}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", choices=["criteria", "drafts"])
    ap.add_argument("--previous", action="store_true", help="load each agency's previous form first")
    ap.add_argument("--agencies", type=Path, default=ROOT.parent / "shared/eval/agencies")
    ap.add_argument("--cache", type=Path, default=ROOT / ".kb-crossval")
    ap.add_argument("--only", nargs="*", help="collections to use (default: all three)")
    ap.add_argument("--tables", type=Path, help="also write every grid point's figures (JSON) here")
    args = ap.parse_args(argv)
    base = params.active()
    tables = {}
    for c in collections(args.agencies):
        if args.only and c.name not in args.only:
            continue
        kb = open_collection(c, args.cache, args.previous)
        t0 = time.perf_counter()
        if args.task == "criteria":
            tables[c.name] = criteria_table(kb, c, base, args.previous)
        else:
            tables[c.name] = drafts_table(kb, c, base, args.previous)
        print(f"# {c.name}: {len(tables[c.name])} grid points in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        kb.store.close()
    if args.tables:
        args.tables.write_text(json.dumps(tables, ensure_ascii=False), encoding="utf-8")
    objective = (lambda v: v) if args.task == "criteria" else draft_objective
    result = leave_one_out(tables, objective)
    if args.task == "criteria":
        shipped = json.dumps({k: base.values()[k] for k in json.loads(next(iter(next(iter(tables.values())))))},
                             sort_keys=True)
        result["shipped_params"] = {n: t.get(shipped) for n, t in tables.items()}
        held = [f["held_out"] for f in result["folds"].values()]
    else:
        held = [f["held_out"]["key_term_recall"] for f in result["folds"].values()]
    result["spread_held_out"] = round(max(held) - min(held), 4) if held else None
    result["previous"] = args.previous
    print(json.dumps(result, ensure_ascii=False, indent=1, default=lambda o: round(o, 4)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
