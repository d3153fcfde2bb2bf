"""Hybrid retrieval: BM25 over Thai words, BM25 over character trigrams, and dense vectors.

On Thai text they fail on different questions (see DESIGN.md), so all run and their results
are combined. Character trigrams still match where the word segmenter cut query and passage
differently (names, loan words, damaged PDF text). Runs are combined by their normalised
scores (`combine`): free-text search maps each run to 0..1, criterion evidence divides each
run by its best (kb/evidence.py); reciprocal-rank fusion (`fuse`) only orders the passages of
a document there, where ranks of many runs are all that matters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from textmodel import thai
from kb.store import Store

RRF_K = 60
POOL = 100     # candidates taken from each retriever before fusion
MODES = ("hybrid", "bm25", "chars", "dense")


@dataclass(frozen=True)
class Filters:
    fiscal_year: int | None = None
    doc_type: str | None = None
    file_name: str | None = None

    def items(self) -> list[tuple[str, object]]:
        return [(k, v) for k, v in (("fiscal_year", self.fiscal_year), ("doc_type", self.doc_type),
                                    ("file_name", self.file_name)) if v not in (None, "")]


@dataclass
class Hit:
    chunk_id: str
    score: float
    text: str = ""
    file_name: str = ""
    path: str = ""
    title: str = ""
    page: int | None = None
    sheet: str | None = None
    rows: tuple[int, int] | None = None
    heading: str | None = None
    table: int | None = None        # table number on the PDF page
    origin: str = "text"            # "ocr" when the text was recognised from a page image
    ocr_confidence: float | None = None
    fiscal_year: int | None = None
    doc_type: str = ""
    ranks: dict = field(default_factory=dict)   # retriever → 1-based rank
    best_sentence: str = ""

    def where(self) -> str:
        """Provenance for people: file, then page or sheet/rows or heading."""
        parts = [self.file_name]
        if self.page:
            parts.append(f"หน้า {self.page}")
        if self.sheet:
            parts.append(f"ชีต {self.sheet}")
        if self.table:
            parts.append(f"ตาราง {self.table}")
        if self.rows:
            first, last = self.rows
            parts.append(f"แถว {first}" if first == last else f"แถว {first}–{last}")
        if self.heading and not self.page:
            parts.append(f"หัวข้อ “{self.heading}”")
        if self.origin == "ocr":      # a reviewer should know to check such text against the image
            parts.append("อ่านจากภาพสแกน" + (f" (ความมั่นใจ {self.ocr_confidence:.0f}%)"
                                             if self.ocr_confidence is not None else ""))
        return " · ".join(parts)

    def to_dict(self) -> dict:
        return {"chunk_id": self.chunk_id, "score": round(self.score, 6), "file_name": self.file_name,
                "path": self.path, "title": self.title, "page": self.page, "sheet": self.sheet,
                "rows": list(self.rows) if self.rows else None, "heading": self.heading,
                "table": self.table, "origin": self.origin, "ocr_confidence": self.ocr_confidence,
                "fiscal_year": self.fiscal_year, "doc_type": self.doc_type, "ranks": self.ranks,
                "best_sentence": self.best_sentence, "text": self.text}


class Retriever:
    def __init__(self, store: Store):
        self.store = store
        # A criterion's queries are embedded for its evidence and again for the drafter's
        # closeness signal; keyed by the model object too, so a reindex starts afresh.
        self._query_vector = lru_cache(maxsize=512)(
            lambda model_id, query: self.store.embedding.get_query_embedding(query))

    # --- the retrievers -----------------------------------------------------------------------

    def lexical(self, query: str | list[str], k: int = POOL, filters: Filters = Filters(),
                level: str = "chunk", terms: str = "words") -> list[tuple[str, float]]:
        """BM25 over chunks (ids are chunk ids) or whole documents (ids are file names), on
        words or on character trigrams (terms="chars"). A query may come as word tokens."""
        tokens = thai.tokenize(query) if isinstance(query, str) else query
        if terms == "chars":
            tokens = thai.char_grams(tokens)
        return self.store.bm25(level, terms).top(tokens, k, filters.items())

    def query_vector(self, query: str):
        """The embedding of a query (cached per model)."""
        return self._query_vector(id(self.store.embedding), query)

    def dense(self, query: str, k: int = POOL, filters: Filters = Filters()) -> list[tuple[str, float]]:
        return self.dense_by_vector(self.query_vector(query), k, filters)

    def dense_by_vector(self, vector, k: int = POOL, filters: Filters = Filters()) -> list[tuple[str, float]]:
        from llama_index.core.vector_stores.types import (MetadataFilter, MetadataFilters,
                                                          VectorStoreQuery)
        if not self.store.stats()["chunks"]:
            return []
        meta = MetadataFilters(filters=[MetadataFilter(key=key, value=value)
                                        for key, value in filters.items()]) if filters.items() else None
        with self.store.reading_vectors() as vs:
            result = vs.query(VectorStoreQuery(
                query_embedding=list(map(float, vector)), similarity_top_k=k, filters=meta))
        # llama-index reports exp(-cosine distance); turn it back into cosine similarity
        return [(i, 1.0 + math.log(max(s, 1e-12))) for i, s in zip(result.ids, result.similarities)]

    # --- fusion -------------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, filters: Filters = Filters(),
               mode: str = "hybrid") -> list[Hit]:
        """Ranked passages. hybrid combines word BM25, character-trigram BM25 and dense;
        the other modes run one of them alone (for comparison and evaluation)."""
        if mode not in MODES:
            raise ValueError(f"unknown search mode '{mode}' (use {', '.join(MODES)})")
        runs = {}
        tokens = thai.tokenize(query)
        if mode in ("hybrid", "bm25"):
            runs["bm25"] = self.lexical(tokens, POOL, filters)
        if mode in ("hybrid", "chars"):
            runs["chars"] = self.lexical(tokens, POOL, filters, terms="chars")
        if mode in ("hybrid", "dense"):
            runs["dense"] = self.dense(query, POOL, filters)
        return self.hits(combine(runs)[:k], runs)

    def hits(self, ranked: list[tuple[str, float]], runs: dict) -> list[Hit]:
        """Ranked chunk ids → Hits with text and provenance."""
        rows = self.store.chunk_rows([cid for cid, _ in ranked])
        rank_of = {name: {cid: r for r, (cid, _) in enumerate(run, 1)} for name, run in runs.items()}
        out = []
        for cid, score in ranked:
            r = rows.get(cid)
            if r is None:       # vector without a docstore row (e.g. a half-finished removal)
                continue
            out.append(Hit(
                chunk_id=cid, score=score, text=r["text"], file_name=r["file_name"], path=r["path"],
                title=r["title"], page=r["page"], sheet=r["sheet"],
                rows=(r["row_start"], r["row_end"]) if r["row_start"] is not None else None,
                heading=r["heading"], table=r["table_no"], origin=r["origin"],
                ocr_confidence=r["ocr_confidence"], fiscal_year=r["fiscal_year"], doc_type=r["doc_type"],
                ranks={n: ro[cid] for n, ro in rank_of.items() if cid in ro}))
        return out


def combine(runs: dict[str, list[tuple[str, float]]], norm: str = "minmax") -> list[tuple[str, float]]:
    """Sum of normalised scores, equal weights, best first.

    Unlike rank fusion this keeps how sure each retriever is: a BM25 hit far above its
    runner-up stays on top even when the dense model ranks it third. On the iapp Thai dev
    set it beats RRF on R@1 and nDCG@10 (docs/benchmarks.md). norm="minmax" maps each run
    to 0..1; norm="max" divides by the run's best score only, so the scores' proportions
    stay (criterion evidence, where a run holds every document of a small store)."""
    if norm not in ("minmax", "max"):
        raise ValueError(f"unknown score normalisation '{norm}' (use minmax or max)")
    combined: dict[str, float] = {}
    live = [run for run in runs.values() if run]
    for run in live:
        scores = np.array([s for _, s in run])
        hi = scores.max()
        lo = scores.min() if norm == "minmax" else 0.0
        span = hi - lo
        for (cid, s) in run:
            value = (s - lo) / span if span > 0 else 1.0
            combined[cid] = combined.get(cid, 0.0) + value / len(live)
    return sorted(combined.items(), key=lambda kv: -kv[1])


def fuse(runs: dict[str, list[tuple[str, float]]], k: int = RRF_K,
         weights: dict[str, float] | None = None) -> list[tuple[str, float]]:
    """(Weighted) reciprocal-rank fusion of several ranked lists (id, score), best first."""
    fused: dict[str, float] = {}
    for name, run in runs.items():
        w = weights.get(name, 1.0) if weights else 1.0
        for rank, (cid, _) in enumerate(run, 1):
            fused[cid] = fused.get(cid, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])
