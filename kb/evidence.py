"""Criterion → ranked evidence documents, each with its best passages and sentences.

Criteria are abstract ("ผู้บริหารกำหนดทิศทาง…") while evidence is concrete (a plan, a KPI row).
One query cannot bridge that, so a criterion is asked several ways — its whole catalogue
text (item title, wording, sub-prompts), its bare wording, and each sub-prompt with the
wording — and the runs of all retrievers for all of them are combined. Filled-in answers
(the example that ships with the catalogue, the agency's own of last year) may add weighted
ways of asking: they bridge the abstract wording and the concrete document, but they are
never evidence themselves.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np

from kb import params
from textmodel import thai
from kb.criteria import Criterion
from kb.params import EvidenceParams
from kb.retrieve import Filters, Hit, Retriever, fuse

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


@dataclass(frozen=True)
class Asking:
    """One way of asking a criterion: text, its weight in fusion, and whether it may run
    lexically only (the expanded query is a bag of words, not a sentence to embed)."""
    text: str
    weight: float = 1.0
    tokens: tuple[str, ...] | None = None


def ways_of_asking(criterion: Criterion, previous: str | None = None,
                   p: EvidenceParams | None = None) -> list[Asking]:
    """The form's own ways of asking, then — weighted by the params — the words the form's
    example answer and the agency's own previous answer use for the same criterion: they say
    in concrete words what its evidence looks like (they are queries only, never evidence)."""
    p = p or params.active().evidence
    out = [Asking(q) for q in criterion_queries(criterion)]
    expanded = expansion_tokens(out[0].text)
    if expanded and p.weight_expansion > 0:
        # one more lexical query: the criterion's words plus the concrete words documents use
        out.append(Asking(out[0].text, p.weight_expansion, tuple(content_tokens(out[0].text) + expanded)))
    example = _answer_query(criterion.answer_text())
    if example and p.weight_example > 0:
        out.append(Asking(example, p.weight_example))
    mine = _answer_query(previous or "")
    if mine and p.weight_previous > 0:
        out.append(Asking(mine, p.weight_previous))
    return out


def _answer_query(answer: str) -> str:
    """A filled-in answer as a query: its words, without list numbers and sub-prompt labels."""
    text = re.sub(r"(?<![\d.])\d{1,2}[.)](?!\d)", " ", answer)
    return " ".join(_BOILERPLATE.sub(" ", text).split())


def document_scores(criterion: Criterion, retriever: Retriever, filters: Filters = Filters(),
                    previous: str | None = None, p: EvidenceParams | None = None):
    """(document scores, chunk runs, file name of each doc id, ways of asking) of a criterion.

    Every way of asking runs four retrievers: BM25 over chunks on words and on character
    trigrams, BM25 over whole documents, and dense over chunks. Each run becomes a document
    ranking (a document at its best chunk, so a long document is not favoured for merely
    having more chunks), its scores divided by the run's best, and the runs are summed with
    the weights of kb/data/params.toml: a document far below a run's best gains little from
    it, however many documents rank below it."""
    p = p or params.active().evidence
    asked = ways_of_asking(criterion, previous, p)
    chunk_runs: dict[str, list[tuple[str, float]]] = {}
    doc_runs: dict[str, list[tuple[str, float]]] = {}
    weights: dict[str, float] = {}
    for i, a in enumerate(asked):
        tokens = list(a.tokens) if a.tokens is not None else content_tokens(a.text)
        for kind, w in (("bm25", p.weight_words), ("chars", p.weight_chars), ("doc", p.weight_doc)):
            if w > 0:
                weights[f"{kind}:{i}"] = w * a.weight
        if p.weight_words > 0:
            chunk_runs[f"bm25:{i}"] = retriever.lexical(tokens, p.pool, filters)
        if p.weight_chars > 0:
            chunk_runs[f"chars:{i}"] = retriever.lexical(tokens, p.pool, filters, terms="chars")
        if p.weight_doc > 0:
            doc_runs[f"doc:{i}"] = retriever.lexical(tokens, p.pool, filters, level="doc")
        if a.tokens is None and p.weight_dense > 0:
            chunk_runs[f"dense:{i}"] = retriever.dense(a.text, p.pool, filters)
            weights[f"dense:{i}"] = p.weight_dense * a.weight
    name_of = {row["doc_id"]: row["file_name"] for row in retriever.store.documents()}
    for name, run in chunk_runs.items():
        doc_runs[name] = _documents_of(run, name_of)
    return combine_weighted(doc_runs, weights), chunk_runs, name_of, asked


def combine_weighted(runs: dict[str, list[tuple[str, float]]], weights: dict[str, float]) -> dict[str, float]:
    """Weighted mean of the runs' scores, each run divided by its best (0 where a run lacks an id)."""
    total = sum(weights[name] for name, run in runs.items() if run) or 1.0
    out: dict[str, float] = {}
    # sorted: the same sums in the same order in every process (ties between documents)
    for name in sorted(runs):
        run = runs[name]
        if not run:
            continue
        best = max(s for _, s in run)
        if best <= 0:
            continue
        w = weights[name] / total
        for doc, s in run:
            out[doc] = out.get(doc, 0.0) + w * s / best
    return out


def evidence_for(criterion: Criterion, retriever: Retriever, k: int = 10,
                 filters: Filters = Filters(), previous: str | None = None,
                 year: int | None = None, generality: dict[str, float] | None = None,
                 fiscal_years: dict[str, int | None] | None = None) -> list[DocumentEvidence]:
    """Documents supporting a criterion, best first, each with its best passages.

    `previous`: the agency's own answer of an earlier year (a way of asking); `year`: the
    fiscal year assessed, a document of an earlier year counts `other_year` times its score;
    `generality`: each document's mean score over all criteria (`generality_of`), of which
    `generic_penalty` is taken off, so a document that mentions everything does not crowd
    out the one specific to this criterion."""
    p = params.active().evidence
    doc_score, chunk_runs, name_of, asked = document_scores(criterion, retriever, filters, previous, p)
    doc_score = adjust(doc_score, p, generality, year, fiscal_years)
    # passages: the best fused chunks of each of the top documents (a document can rank on
    # its whole text while none of its chunks is in the overall top chunks)
    top_docs = sorted(doc_score, key=lambda n: (-doc_score[n], n))[:k]
    chosen: dict[str, list[str]] = {n: [] for n in top_docs}
    chunk_score = dict(fuse(chunk_runs))
    for cid in chunk_score:
        picks = chosen.get(name_of.get(cid.split(":", 1)[0], ""))
        if picks is not None and len(picks) < p.passages_per_doc:
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
    term_weights = query_weights(retriever, criterion_queries(criterion))
    for d in ranked_docs:
        for hit in d.passages:
            hit.best_sentence = best_sentence(hit.text, term_weights)
    return ranked_docs


def adjust(doc_score: dict[str, float], p: EvidenceParams, generality: dict[str, float] | None,
           year: int | None, fiscal_years: dict[str, int | None] | None) -> dict[str, float]:
    """Fused scores less `generic_penalty` × each document's generality, times `other_year`
    for a document of a fiscal year before the one assessed."""
    if generality and p.generic_penalty:
        doc_score = {d: s - p.generic_penalty * generality.get(d, 0.0) for d, s in doc_score.items()}
    if year and p.other_year != 1.0 and fiscal_years:
        doc_score = {d: s * (p.other_year if (fiscal_years.get(d) or year) < year else 1.0)
                     for d, s in doc_score.items()}
    return doc_score


def generality_of(criteria: list[Criterion], retriever: Retriever,
                  previous_of=lambda code: None) -> dict[str, float]:
    """Each document's mean fused score over the criteria (0 where it is not retrieved)."""
    total: dict[str, float] = {}
    for c in criteria:
        scores, *_ = document_scores(c, retriever, previous=previous_of(c.code))
        for d, s in scores.items():
            total[d] = total.get(d, 0.0) + s
    n = max(len(criteria), 1)
    return {d: s / n for d, s in total.items()}


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


def criterion_weights(retriever: Retriever, criterion: Criterion) -> dict[str, float]:
    """idf weight of every content word of the criterion (wording, item title, sub-prompts):
    what the drafter scores sentences with."""
    weights = query_weights(retriever, criterion_queries(criterion))
    words = thai.content_words(criterion.query_text())
    top = max(weights.values(), default=1.0)
    # sorted, for the reason given in query_weights: the same sums in every process
    return {t: weights.get(t, top) for t in sorted(words)}


def best_sentence(text: str, weights: dict[str, float]) -> str:
    """The sentence of a passage that shares the most (idf-weighted) words with the criterion."""
    best, best_score = "", -1.0
    for s in thai.sentences(text):
        toks = set(thai.tokenize(s))
        score = sum(weights.get(t, 0.0) for t in toks) / (1 + 0.02 * len(toks))
        if score > best_score:
            best, best_score = s, score
    return best
