"""Criterion → ranked evidence documents, each with its best passages and sentences.

Criteria are abstract ("ผู้บริหารกำหนดทิศทาง…") while evidence is concrete (a plan, a KPI row).
One query cannot bridge that, so a criterion is asked several ways — its whole catalogue
text (item title, wording, sub-prompts), its bare wording, and each sub-prompt with the
wording — and the runs of all retrievers for all of them are combined. The agency's own
earlier answer is deliberately not used: it belongs to one agency and one year, and evidence
must be found for any.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np

from kb import thai
from kb.criteria import Criterion
from kb.retrieve import POOL, Filters, Hit, Retriever, combine, fuse

PASSAGES_PER_DOC = 3
# Form boilerplate that every criterion shares; as query words it only adds noise.
_BOILERPLATE = re.compile(r"\((?:ระบุ|ตอบ|กรณี)[^)]*\)|หน่วยงานของท่าน|หน่วยงาน|ดังนี้|อย่างไร")


@dataclass
class DocumentEvidence:
    file_name: str
    title: str
    path: str
    score: float
    fiscal_year: int | None
    passages: list[Hit] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"file_name": self.file_name, "title": self.title, "path": self.path,
                "score": round(self.score, 6), "fiscal_year": self.fiscal_year,
                "passages": [p.to_dict() for p in self.passages]}


def criterion_queries(criterion: Criterion) -> list[str]:
    """The ways a criterion is asked, most complete first."""
    wording = _BOILERPLATE.sub(" ", criterion.wording).strip()
    queries = [_BOILERPLATE.sub(" ", criterion.query_text()), wording]
    for sub in criterion.subprompts:
        queries.append(f"{sub.label} {wording}")
    seen, out = set(), []
    for q in queries:
        q = " ".join(q.split())
        if q and q not in seen:
            seen.add(q)
            out.append(q)
    return out


def evidence_for(criterion: Criterion, retriever: Retriever, k: int = 10,
                 filters: Filters = Filters()) -> list[DocumentEvidence]:
    """Documents supporting a criterion, best first, each with its best passages.

    Every way of asking the criterion runs four retrievers: BM25 over chunks on words and on
    character trigrams, BM25 over whole documents, and dense over chunks. Each run becomes a
    document ranking (a document at its best chunk, so a long document is not favoured for
    merely having more chunks), its scores divided by the run's best, and the runs are summed
    with equal weights: a document far below a run's best gains little from it, however
    many documents rank below it.
    """
    queries = criterion_queries(criterion)
    chunk_runs: dict[str, list[tuple[str, float]]] = {}
    doc_runs: dict[str, list[tuple[str, float]]] = {}
    token_queries = [content_tokens(q) for q in queries]
    expanded = expansion_tokens(queries[0])
    if expanded:
        # one more lexical query: the criterion's words plus the concrete words documents use
        token_queries.append(token_queries[0] + expanded)
    for i, tokens in enumerate(token_queries):
        chunk_runs[f"bm25:{i}"] = retriever.lexical(tokens, POOL, filters)
        chunk_runs[f"chars:{i}"] = retriever.lexical(tokens, POOL, filters, terms="chars")
        doc_runs[f"doc:{i}"] = retriever.lexical(tokens, POOL, filters, level="doc")
    for i, q in enumerate(queries):
        chunk_runs[f"dense:{i}"] = retriever.dense(q, POOL, filters)
    name_of = {row["doc_id"]: row["file_name"] for row in retriever.store.documents()}
    for name, run in chunk_runs.items():
        doc_runs[name] = _documents_of(run, name_of)
    doc_score = dict(combine(doc_runs, norm="max"))
    # passages: the best fused chunks of each of the top documents (a document can rank on
    # its whole text while none of its chunks is in the overall top chunks)
    top_docs = sorted(doc_score, key=lambda n: -doc_score[n])[:k]
    chosen: dict[str, list[str]] = {n: [] for n in top_docs}
    chunk_score = dict(fuse(chunk_runs))
    for cid in chunk_score:
        picks = chosen.get(name_of.get(cid.split(":", 1)[0], ""))
        if picks is not None and len(picks) < PASSAGES_PER_DOC:
            picks.append(cid)
    hits = {h.chunk_id: h for h in retriever.hits(
        [(c, chunk_score[c]) for cs in chosen.values() for c in cs], {})}
    ranked_docs = []
    for name in top_docs:
        passages = [hits[c] for c in chosen[name] if c in hits]
        if passages:
            first = passages[0]
            ranked_docs.append(DocumentEvidence(name, first.title, first.path, doc_score[name],
                                                first.fiscal_year, passages))
    term_weights = query_weights(retriever, queries)
    for d in ranked_docs:
        for p in d.passages:
            p.best_sentence = best_sentence(p.text, term_weights)
    return ranked_docs


@lru_cache(maxsize=1)
def _concepts() -> dict[str, list[str]]:
    """kb/data/concepts.tsv: abstract criterion word → concrete document words."""
    path = Path(__file__).with_name("data") / "concepts.tsv"
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            concept, terms = line.split("\t")
            out[thai.match_form(concept)] = [t for term in terms.split("|") for t in thai.tokenize(term)]
    return out


def expansion_tokens(query: str) -> list[str]:
    text = thai.match_form(query)
    found = [terms for concept, terms in _concepts().items() if concept in text]
    return list(dict.fromkeys(t for terms in found for t in terms))


def content_tokens(query: str) -> list[str]:
    """Query tokens without Thai function words: criteria are long, and their การ/ที่/และ
    would otherwise match every passage a little."""
    return [t for t in thai.tokenize(query) if t not in _stopwords()]


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from pythainlp.corpus import thai_stopwords
    return frozenset(thai_stopwords())


def _documents_of(run: list[tuple[str, float]], name_of: dict[str, str]) -> list[tuple[str, float]]:
    """A chunk ranking as a document ranking, each document at the rank of its best chunk
    (chunk ids are '<doc_id>:<ordinal>')."""
    seen: dict[str, float] = {}
    for cid, score in run:
        name = name_of.get(cid.split(":", 1)[0])
        if name:
            seen.setdefault(name, score)
    return list(seen.items())


def query_weights(retriever: Retriever, queries: list[str]) -> dict[str, float]:
    """Query tokens weighted by inverse document frequency in the store's BM25 index,
    so 'e-filing' outweighs 'การ' when picking a passage's best sentence."""
    lexical = retriever.store.bm25()
    index, n = lexical.index, max(len(lexical.ids), 1)
    vocab = getattr(index, "vocab_dict", {}) or {}
    indptr = index.scores.get("indptr") if getattr(index, "scores", None) else None
    weights = {}
    # sorted: a set's order changes with the hash seed, and sums taken in another order can
    # differ in the last bit, enough to flip a tie between two sentences
    for tok in sorted({t for q in queries for t in thai.tokenize(q)}):
        tid = vocab.get(tok)
        df = int(indptr[tid + 1] - indptr[tid]) if tid is not None and indptr is not None else 0
        weights[tok] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
    return weights


def best_sentence(text: str, weights: dict[str, float]) -> str:
    """The sentence of a passage that shares the most (idf-weighted) words with the criterion."""
    best, best_score = "", -1.0
    for s in thai.sentences(text):
        toks = set(thai.tokenize(s))
        score = sum(weights.get(t, 0.0) for t in toks) / (1 + 0.02 * len(toks))
        if score > best_score:
            best, best_score = s, score
    return best
