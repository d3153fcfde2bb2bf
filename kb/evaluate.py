"""The `kb eval` commands: retrieval quality on BEIR data and on criterion-level evidence.

Every evaluation ingests into a temporary store (never the user's) and returns one dict,
printed by the CLI as one JSON object. Metrics follow the usual IR definitions (binary
relevance for R@1/MRR/Recall, graded gains for nDCG).
"""
from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from kb.config import Settings

CUTOFF = 10


# --- metrics ----------------------------------------------------------------------------------

def dcg(gains: list[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def score_ranking(ranked: list[str], qrels: dict[str, int], k: int = CUTOFF) -> dict[str, float]:
    """Metrics of one ranked list of ids against graded relevance {id: grade>0}."""
    relevant = {d for d, g in qrels.items() if g > 0}
    top = ranked[:k]
    first = next((i for i, d in enumerate(top, 1) if d in relevant), None)
    ideal = dcg(sorted(qrels.values(), reverse=True)[:k])
    return {
        "R@1": float(bool(ranked) and ranked[0] in relevant),
        "MRR@10": 1.0 / first if first else 0.0,
        "Recall@10": len(relevant & set(top)) / len(relevant) if relevant else 0.0,
        "nDCG@10": dcg([qrels.get(d, 0) for d in top]) / ideal if ideal else 0.0,
        "P@5": len(relevant & set(ranked[:5])) / 5,
    }


def mean_metrics(per_query: list[dict[str, float]], names: list[str], scale: float = 1.0) -> dict:
    n = len(per_query) or 1
    return {m: round(scale * sum(q[m] for q in per_query) / n, 4 if scale == 1 else 2) for m in names}


def documents_in_order(hits) -> list[str]:
    """Chunk hits → document file names, each at the rank of its best chunk."""
    seen: dict[str, None] = {}
    for h in hits:
        seen.setdefault(h.file_name, None)
    return list(seen)


def read_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, tab-separated fields) of a labels file; `#` comments and blank lines ignored."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        out.append((n, line.rstrip("\n").split("\t")))
    return out


def temp_settings(base: Settings | None = None) -> tuple[Settings, tempfile.TemporaryDirectory]:
    tmp = tempfile.TemporaryDirectory(prefix="kb-eval-")
    base = base or Settings.from_env()
    # a temporary store is always embedded: never write into the user's (or a shared) server
    return replace(base, data_dir=Path(tmp.name), chroma_url=None), tmp


# --- BEIR ---------------------------------------------------------------------------------------

def load_beir(directory: Path):
    directory = Path(directory)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory}: not a BEIR folder (missing {name})")
    corpus = [json.loads(l) for l in (directory / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (directory / "queries.jsonl").read_text(encoding="utf-8").splitlines()) if q}
    qrels: dict[str, dict[str, int]] = {}
    for _, row in read_lines(directory / "qrels/test.tsv"):
        if len(row) < 3 or row[0] == "query-id":
            continue
        qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return corpus, queries, qrels


def eval_beir(directory: Path, settings: Settings | None = None, progress: bool = True) -> dict:
    from tqdm import tqdm

    from ingest.chunker import chunk_file
    from kb.retrieve import Retriever
    from kb.store import Store
    from textmodel import thai
    from textmodel.records import Document, LoadedFile, Section

    corpus, queries, qrels = load_beir(directory)
    settings, tmp = temp_settings(settings)
    with tmp:
        store = Store(settings)
        emb = store.embedding
        t0 = time.perf_counter()
        docs = []
        for p in tqdm(corpus, desc="chunk", disable=not progress):
            loaded = LoadedFile(title=p.get("title", ""), sections=[Section(text=p["text"])])
            chunks = chunk_file(loaded, emb.token_count, settings.chunk_tokens)
            for c in chunks:
                c.tokens = thai.tokenize(c.index_text)
            docs.append(Document(path=p["_id"], file_name=p["_id"], sha256="", title=p.get("title", ""),
                                 fiscal_year=None, doc_type="beir", chunks=chunks))
        for d in tqdm(docs, desc="embed+store", disable=not progress):
            store.replace_document(d)
        ingest_s = time.perf_counter() - t0
        retriever = Retriever(store)
        names = ["R@1", "MRR@10", "Recall@10", "nDCG@10"]
        per = {m: [] for m in ("bm25", "chars", "dense", "hybrid")}
        t0 = time.perf_counter()
        todo = [q for q in queries if q in qrels]
        for qid in tqdm(todo, desc="queries", disable=not progress):
            for mode in per:
                hits = retriever.search(queries[qid], k=50, mode=mode)
                per[mode].append(score_ranking(documents_in_order(hits), qrels[qid]))
        search_s = time.perf_counter() - t0
        result = {"dataset": str(directory), "queries": len(todo), "passages": len(corpus),
                  "chunks": store.stats()["chunks"], "embed_model": settings.embed_model}
        for mode, scores in per.items():
            result[mode] = mean_metrics(scores, names, scale=100)
        result.update(result["hybrid"])
        result["seconds"] = {"ingest": round(ingest_s, 1), "search_all_modes": round(search_s, 1)}
        store.close()
        return result


# --- criteria -----------------------------------------------------------------------------------

def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """`code<TAB>file_name<TAB>grade` lines → {code: {file_name: grade}}."""
    out: dict[str, dict[str, int]] = {}
    for n, row in read_lines(path):
        if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
            raise ValueError(f"{Path(path).name}: line {n} is not 'code<TAB>file_name<TAB>grade': {row!r}")
        out.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2])
    return out


@contextmanager
def ingested(docs_dir: Path, settings: Settings | None, progress: bool, previous: Path | None = None):
    """(kb, ingest summary, ingest seconds) over docs_dir in a temporary store, removed
    afterwards; `previous`: a filled-in form loaded first as last year's answers, as an agency would."""
    from kb.service import KnowledgeBase

    settings, tmp = temp_settings(settings)
    with tmp:
        kb = KnowledgeBase(settings)
        try:
            if previous is not None:
                load_previous(kb, previous)
            t0 = time.perf_counter()
            summary = kb.ingest([docs_dir], progress=progress)
            yield kb, summary, time.perf_counter() - t0
        finally:
            kb.store.close()


def load_previous(kb, path: Path) -> int:
    """Load a filled-in form as previous answers; a file that is not one is an error naming it."""
    before = sum(n for *_, n in kb.previous_answers.forms())
    kb.ingest([Path(path)], progress=False)
    loaded = sum(n for *_, n in kb.previous_answers.forms()) - before
    if loaded <= 0:
        raise ValueError(f"{Path(path).name}: ไม่ใช่แบบฟอร์มที่ 3 ที่กรอกแล้ว (not a filled-in form: "
                         "no answers found)")
    return loaded


def write_lines(path: Path | None, rows: list[dict]) -> None:
    """--out: one JSON object per criterion."""
    if path is None:
        return
    with Path(path).open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def eval_criteria(docs_dir: Path, qrels_path: Path, settings: Settings | None = None,
                  progress: bool = True, out: Path | None = None, previous: Path | None = None) -> dict:
    qrels = read_qrels(qrels_path)
    with ingested(docs_dir, settings, progress, previous) as (kb, summary, ingest_s):
        result = score_criteria(kb, qrels, out)
        result = {"docs": str(docs_dir), "criteria": result.pop("criteria"), "documents": summary.ingested,
                  "chunks": summary.chunks, "ingest_errors": summary.errors, **result}
        result["seconds"]["ingest"] = round(ingest_s, 1)
        if previous is not None:
            result["previous"] = str(previous)
        return result


def score_criteria(kb, qrels: dict[str, dict[str, int]], out: Path | None = None) -> dict:
    """Evidence of every labelled criterion from kb's store, scored at document level."""
    unknown = sorted(code for code in qrels if not _known(kb, code))
    scored = {c: q for c, q in qrels.items() if c not in unknown and any(g > 0 for g in q.values())}
    per, latencies, rows = [], [], []
    for code in scored:
        t = time.perf_counter()
        docs = kb.evidence(code, k=CUTOFF)
        latencies.append(time.perf_counter() - t)
        metrics = score_ranking([d.file_name for d in docs], scored[code])
        per.append(metrics)
        rows.append({"code": code, "nDCG@10": round(metrics["nDCG@10"], 4),
                     "documents": [{"file_name": d.file_name, "score": round(d.score, 6),
                                    "grade": scored[code].get(d.file_name, 0)} for d in docs],
                     "relevant": scored[code]})
    write_lines(out, rows)
    names = ["nDCG@10", "Recall@10", "MRR@10", "P@5"]
    return {"criteria": len(scored), "unknown_codes": unknown, **mean_metrics(per, names),
            "seconds": {"evidence_mean": round(sum(latencies) / max(len(latencies), 1), 3)}}


def _known(kb, code: str) -> bool:
    try:
        kb.catalogue.get(code)
        return True
    except KeyError:
        return False


# --- drafts -------------------------------------------------------------------------------------

def read_expect(path: Path) -> dict[str, list[str]]:
    """`code<TAB>term1|term2|…` lines → {code: [terms]}; an empty list means 'should abstain'."""
    out: dict[str, list[str]] = {}
    for n, row in read_lines(path):
        code = row[0].strip()
        if not code:
            raise ValueError(f"{Path(path).name}: line {n} has no criterion code: {row!r}")
        terms = row[1] if len(row) > 1 else ""
        out[code] = [t.strip() for t in terms.split("|") if t.strip()]
    return out


def _term_key(text: str) -> str:
    from textmodel import thai
    # the expect-file contract: match after normalising Thai digits and whitespace
    return "".join(thai.match_form(text).split())


def score_drafts(kb, expect: dict[str, list[str]], drafter: str = "extractive",
                 progress: bool = True, drafts: dict | None = None, out: Path | None = None) -> dict:
    """Draft every criterion of `expect` from kb's store and score the drafts
    (`drafts`: code → Draft already made, e.g. by a benchmark that timed them)."""
    from tqdm import tqdm

    from kb.draft import draft_criterion
    unknown = sorted(code for code in expect if not _known(kb, code))
    codes = [c for c in expect if c not in unknown]
    found = total = sentences = cited = bad_facts = bad_sentences = right = 0
    drafted_sentences, drafted = 0, 0     # length of the drafts that answer: recall grows with it
    missed_terms: dict[str, list[str]] = {}
    wrong_abstain: list[str] = []
    wrong_draft: list[str] = []
    seconds, items, characters, rows = [], [], [], []
    for code in tqdm(codes, desc="drafts", unit="criterion", disable=not progress):
        t = time.perf_counter()
        d = drafts[code] if drafts and code in drafts else draft_criterion(kb, code, drafter=drafter)
        seconds.append(time.perf_counter() - t)
        terms = expect[code]
        should_abstain = not terms
        right += d.abstained == should_abstain
        if d.abstained and not should_abstain:
            wrong_abstain.append(code)
        if should_abstain and not d.abstained:
            wrong_draft.append(code)
        body = _term_key(" ".join(s.text for s in d.sentences))
        hit = [t for t in terms if _term_key(t) in body]
        if terms:
            found += len(hit)
            total += len(terms)
            if len(hit) < len(terms):
                missed_terms[code] = [t for t in terms if t not in hit]
        if not d.abstained:
            items.append(len(d.sentences))
            characters.append(sum(len(x.text) for x in d.sentences))
        rows.append({"code": code, "abstained": d.abstained, "should_abstain": should_abstain,
                     "items": [{"text": x.text, "citations": x.citations, "verdict": x.verdict,
                                "unsupported_facts": x.unsupported_facts} for x in d.sentences],
                     "sources": [{"n": x.n, "chunk_id": x.chunk_id, "file_name": x.file_name,
                                  "where": x.where} for x in d.sources],
                     "matched": hit, "missed": [t for t in terms if t not in hit],
                     "support": d.support, "closeness": d.closeness})
        sentences += len(d.sentences)
        if not d.abstained:
            drafted += 1
            drafted_sentences += len(d.sentences)
        cited += sum(1 for s in d.sentences if s.citations)
        bad_facts += sum(len(s.unsupported_facts) for s in d.sentences)
        bad_sentences += sum(1 for s in d.sentences if s.verdict != "supported")
    n = len(codes) or 1
    write_lines(out, rows)
    return {
        "criteria": len(codes), "drafter": drafter, "unknown_codes": unknown,
        "key_term_recall": round(found / total, 4) if total else None,
        "citation_coverage": round(cited / sentences, 4) if sentences else None,
        "sentences": sentences,
        "sentences_per_draft": round(drafted_sentences / drafted, 2) if drafted else None,
        "median_items": statistics.median(items) if items else None,
        "median_characters": statistics.median(characters) if characters else None,
        "unsupported_facts": bad_facts,
        "unsupported_sentences": bad_sentences,
        "abstention_accuracy": round(right / n, 4),
        "abstained_wrongly": wrong_abstain, "drafted_wrongly": wrong_draft,
        "missed_terms": missed_terms,
        "seconds_per_draft": round(sum(seconds) / n, 3),
    }


def eval_drafts(docs_dir: Path, expect_path: Path, settings: Settings | None = None,
                progress: bool = True, drafter: str = "extractive", out: Path | None = None,
                previous: Path | None = None) -> dict:
    expect = read_expect(expect_path)
    with ingested(docs_dir, settings, progress, previous) as (kb, summary, ingest_s):
        result = {"docs": str(docs_dir), "documents": summary.ingested, "chunks": summary.chunks,
                  "ingest_errors": summary.errors,
                  **score_drafts(kb, expect, drafter=drafter, progress=progress, out=out),
                  "seconds_ingest": round(ingest_s, 1)}
        if previous is not None:
            result["previous"] = str(previous)
        return result
