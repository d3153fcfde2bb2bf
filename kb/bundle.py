"""What the drafter reads for one criterion, gathered from the store in one place.

    build_bundle(kb, criterion) -> EvidenceBundle      (retrieval: store, retriever, previous answers)
    kb.draft.draft(criterion, bundle) -> Draft          (drafting: a pure function of its inputs)

Retrieval decides which passages a criterion's draft is written from (the evidence ranking,
then more of the best documents), and everything the drafter needs to judge them: the
chunk before each passage (a sentence the chunker cut), the chunks next to each (an item
whose name is in the next chunk cites that one too), the criterion's word weights and
those of every other criterion (a sentence answering all of them is generic), the
embedding model's closeness, last year's answer and the fiscal year assessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kb import params
from kb.criteria import Criterion
from kb.evidence import criterion_queries, criterion_weights
from kb.retrieve import Filters, Hit


@dataclass
class EvidenceBundle:
    passages: list[Hit]                                   # in reading order
    weights: dict[str, float]                             # the criterion's word weights (idf)
    other_weights: list[dict[str, float]] = field(default_factory=list)   # every other criterion's
    preceding: dict[str, str] = field(default_factory=dict)     # chunk id → text of the chunk before it
    neighbours: dict[str, list[Hit]] = field(default_factory=dict)  # chunk id → chunks after and before
    closeness: float | None = None                        # best cosine of a way of asking to any passage
    passage_closeness: dict[str, float] = field(default_factory=dict)   # chunk id → best cosine to it
    model: str = ""                                       # the embedding model (its closeness floor)
    accepted: bool = False                                # passages chosen by a reviewer
    year: int | None = None                               # fiscal year assessed (พ.ศ.)
    previous: object | None = None                        # kb.previous.PreviousAnswer of this criterion
    warnings: list[str] = field(default_factory=list)


def build_bundle(kb, criterion: Criterion, accepted_chunk_ids: list[str] | None = None,
                 year: int | None = None) -> EvidenceBundle:
    """`accepted_chunk_ids`: the evidence a reviewer accepted (used as is, in that order);
    None: the top suggestions of kb.evidence and more of the best documents."""
    warnings: list[str] = []
    year = year or kb.assessment_year()
    passages = _passages(kb, criterion, accepted_chunk_ids, warnings, year)
    return EvidenceBundle(
        passages=passages, weights=criterion_weights(kb.retriever, criterion),
        other_weights=[w for code, w in all_weights(kb).items() if code != criterion.code]
        if params.active().draft.generic_damp else [],
        preceding=_preceding(kb, passages), neighbours=_neighbours(kb, passages),
        closeness=closeness(kb, criterion), passage_closeness=passage_closeness(kb, criterion, passages),
        model=kb.store.meta("embed_model") or "",
        accepted=bool(accepted_chunk_ids), year=year,
        previous=kb.previous_answers.latest(criterion.code), warnings=warnings)


def all_weights(kb) -> dict[str, dict[str, float]]:
    """Every criterion's word weights, once per state of the store."""
    cached = getattr(kb, "_criterion_weights", None)
    if cached is None or cached[0] != kb.store.generation():
        cached = (kb.store.generation(),
                  {c.code: criterion_weights(kb.retriever, c) for c in kb.catalogue.criteria()})
        kb._criterion_weights = cached
    return cached[1]


def closeness(kb, criterion: Criterion) -> float | None:
    """The best cosine similarity between any way of asking the criterion and any stored
    passage (None for an empty store)."""
    best = [s for q in criterion_queries(criterion) for _, s in kb.retriever.dense(q, 1)]
    return max(best) if best else None


def passage_closeness(kb, criterion: Criterion, passages: list[Hit]) -> dict[str, float]:
    """chunk id → the best cosine between a way of asking the criterion and that passage's
    stored vector: what the embedding model says of each passage the drafter reads."""
    import numpy as np
    vectors = kb.store.chunk_vectors([h.chunk_id for h in passages])
    if not vectors:
        return {}
    ids = list(vectors)
    m = np.array([vectors[i] for i in ids], dtype=float)
    m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-12
    q = np.array([kb.retriever.query_vector(text) for text in criterion_queries(criterion)], dtype=float)
    q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-12
    best = (m @ q.T).max(axis=1)
    return {i: round(float(b), 4) for i, b in zip(ids, best)}


def _passages(kb, criterion, accepted, warnings, year) -> list[Hit]:
    p = params.active().draft
    if accepted is None:
        docs = kb.evidence(criterion.code, k=p.docs_per_criterion, year=year)
        passages = [h for d in docs for h in d.passages]
        return passages + more_from(kb, criterion, docs[:p.docs_read_closely], {h.chunk_id for h in passages})
    ids = list(dict.fromkeys(accepted))
    hits = kb.retriever.hits([(cid, 1.0) for cid in ids], {})
    missing = [cid for cid in ids if cid not in {h.chunk_id for h in hits}]
    if missing:
        warnings.append("ไม่พบหลักฐานที่ยอมรับไว้ในคลังแล้ว (อาจถูกลบหรือนำเข้าใหม่): " + ", ".join(missing))
    return hits


def more_from(kb, criterion, docs, seen: set[str]) -> list[Hit]:
    """More passages of the best documents: the whole of the best one when it is short, and one
    lexical search per way of asking the criterion (one per sub-prompt too) in each: evidence
    ranks documents and keeps three passages of each, but the part that answers a sub-prompt
    is often elsewhere in the same document."""
    extra: list[str] = []
    if docs:
        # the best document is the main evidence, and the systems and figures it lists are often
        # in parts that share no word with the criterion: a person would read it all
        whole = kb.store.chunk_ids(docs[0].path)
        if len(whole) <= params.active().draft.read_whole_up_to:
            extra += [cid for cid in whole if cid not in seen]
            seen.update(whole)
    for d in docs:
        for q in criterion_queries(criterion):
            for cid, _ in kb.retriever.lexical(q, 2, Filters(file_name=d.file_name)):
                if cid not in seen:
                    seen.add(cid)
                    extra.append(cid)
    return kb.retriever.hits([(cid, 0.0) for cid in extra], {})


def _near(chunk_id: str, step: int) -> str | None:
    doc, _, ordinal = chunk_id.rpartition(":")        # ids are doc:ordinal
    n = int(ordinal) + step if ordinal.isdigit() else -1
    return f"{doc}:{n}" if n >= 0 else None


def _preceding(kb, passages) -> dict[str, str]:
    """chunk id → text of the chunk before it in the same document."""
    prev_of = {_near(h.chunk_id, -1): h.chunk_id for h in passages if _near(h.chunk_id, -1)}
    rows = kb.store.chunk_rows(list(prev_of))
    return {prev_of[cid]: row["text"] for cid, row in rows.items()}


def _neighbours(kb, passages) -> dict[str, list[Hit]]:
    """chunk id → the chunks after and before it (those that exist), as Hits."""
    wanted = {h.chunk_id: [n for n in (_near(h.chunk_id, 1), _near(h.chunk_id, -1)) if n] for h in passages}
    found = {h.chunk_id: h for h in kb.retriever.hits(
        [(n, 0.0) for ns in wanted.values() for n in dict.fromkeys(ns)], {})}
    return {cid: [found[n] for n in ns if n in found] for cid, ns in wanted.items()}
