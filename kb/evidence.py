"""Criterion → ranked evidence documents, each with its best passages and sentences.

Criteria are abstract ("ผู้บริหารกำหนดทิศทาง…") while evidence is concrete (a plan, a KPI row).
One query cannot bridge that, so a criterion is asked several ways — its whole catalogue
text, its bare wording, and each sub-prompt beside the item title — and the runs of both
retrievers for all of them are fused. The agency's own earlier answer is deliberately not
used: it belongs to one agency and one year, and evidence must be found for any.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from kb import thai
from kb.criteria import Criterion
from kb.retrieve import POOL, Filters, Hit, Retriever, fuse

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
    item_title = criterion.item.title if criterion.item else ""
    wording = _BOILERPLATE.sub(" ", criterion.wording).strip()
    queries = [_BOILERPLATE.sub(" ", criterion.query_text()), f"{item_title} {wording}".strip()]
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
    queries = criterion_queries(criterion)
    runs: dict[str, list[tuple[str, float]]] = {}
    for i, q in enumerate(queries):
        runs[f"bm25:{i}"] = retriever.lexical(q, POOL, filters)
        runs[f"dense:{i}"] = retriever.dense(q, POOL, filters)
    # Documents are fused from per-run document rankings (each document at the rank of its
    # best chunk), so a long document is not favoured for merely having more chunks.
    hits = retriever.hits(fuse(runs)[:POOL], {})
    doc_of = {h.chunk_id: h.file_name for h in hits}
    doc_runs = {name: _documents_of(run, doc_of) for name, run in runs.items()}
    doc_score = dict(fuse(doc_runs))
    docs: dict[str, DocumentEvidence] = {}
    for h in hits:
        d = docs.get(h.file_name)
        if d is None:
            d = docs[h.file_name] = DocumentEvidence(h.file_name, h.title, h.path,
                                                     doc_score.get(h.file_name, 0.0), h.fiscal_year)
        if len(d.passages) < PASSAGES_PER_DOC:
            d.passages.append(h)
    ranked_docs = sorted(docs.values(), key=lambda d: -d.score)[:k]
    weights = query_weights(retriever, queries)
    for d in ranked_docs:
        for p in d.passages:
            p.best_sentence = best_sentence(p.text, weights)
    return ranked_docs


def _documents_of(run: list[tuple[str, float]], doc_of: dict[str, str]) -> list[tuple[str, float]]:
    seen: dict[str, float] = {}
    for cid, score in run:
        if cid in doc_of:
            seen.setdefault(doc_of[cid], score)
    return list(seen.items())


def query_weights(retriever: Retriever, queries: list[str]) -> dict[str, float]:
    """Query tokens weighted by inverse document frequency in the store's BM25 index,
    so 'e-filing' outweighs 'การ' when picking a passage's best sentence."""
    index, ids, _ = retriever.store.bm25()
    n = max(len(ids), 1)
    vocab = getattr(index, "vocab_dict", {}) or {}
    indptr = index.scores.get("indptr") if getattr(index, "scores", None) else None
    weights = {}
    for tok in {t for q in queries for t in thai.tokenize(q)}:
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
