"""Benchmarks for issue 2, measured side by side in one run (the machine is shared and noisy).

1. Ingest throughput: chunks/s of the whole pipeline on corpus/ beside the raw embedding
   throughput of exactly the same chunk texts → pipeline overhead.
2. Hybrid search latency (query embedding + word and character BM25 + Chroma + fusion + docstore)
   at 10k and 50k chunks, and the time to (re)build the two BM25 indexes after a change; and the
   HNSW search breadth: Chroma's default (100) beside ours (kb.store.SEARCH_EF), alternating on
   the same collection, each with its latency for a 100-deep candidate pool and its recall of
   the exact 100 nearest chunks (numpy over every stored vector).
   Chunk texts are real Thai (sentences of the iapp Wikipedia passages, recombined); embedding
   50k chunks for real would take over an hour here, so 1,000 are embedded and the rest get a
   real vector plus small normalised noise. The index sizes and the code path are the real ones.
3. Evidence-for-criterion latency on the corpus/ store, for every criterion in corpus/qrels.tsv.

Usage: python bench/run.py [--sizes 10000,50000] [--queries 100]   (--sizes "" skips part 2)
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textmodel import thai  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.store import Store  # noqa: E402
from textmodel.records import Chunk, Document  # noqa: E402


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p)) * 1000.0


def bench_ingest(corpus: Path, tmp: Path) -> dict:
    from kb.service import KnowledgeBase
    kb = KnowledgeBase(replace(Settings(), data_dir=tmp / "ingest", chroma_url=None))
    emb = kb.store.embedding
    # start-up is not part of either figure: loading the model, importing and opening Chroma
    # (both once per process, as in `kb serve`)
    emb.embed_array(["อุ่นเครื่อง"])
    kb.store.vectors
    t0 = time.perf_counter()
    summary = kb.ingest([corpus], progress=False)
    pipeline_s = time.perf_counter() - t0
    texts = [r[0] for r in kb.store.db.execute("SELECT index_text FROM chunks ORDER BY chunk_id")]
    by_doc = {}
    for did, text in kb.store.db.execute("SELECT doc_id, index_text FROM chunks ORDER BY doc_id, ordinal"):
        by_doc.setdefault(did, []).append(text)
    t0 = time.perf_counter()
    for batch in by_doc.values():          # same batching as the pipeline: one call per document
        emb.embed_array(batch)
    embed_s = time.perf_counter() - t0
    n = len(texts)
    return {"files": summary.ingested, "chunks": n, "pipeline_s": round(pipeline_s, 2),
            "embed_only_s": round(embed_s, 2), "pipeline_chunks_per_s": round(n / pipeline_s, 2),
            "embed_chunks_per_s": round(n / embed_s, 2),
            "overhead_pct": round(100 * (pipeline_s / embed_s - 1), 1), "kb": kb}


def synthetic_chunks(passages: list[str], n: int, rng: random.Random) -> list[str]:
    sents = [s for p in passages for s in thai.sentences(p) if len(s) > 20]
    return [" ".join(rng.sample(sents, 3)) for _ in range(n)]


def bench_search(sizes: list[int], n_queries: int, tmp: Path, beir: Path) -> dict:
    from kb.embeddings import get_embedding
    from kb.retrieve import Retriever
    rng = random.Random(7)
    passages = [json.loads(l)["text"] for l in (beir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = [json.loads(l)["text"] for l in (beir / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = rng.sample(queries, n_queries)
    emb = get_embedding()
    texts = synthetic_chunks(passages, max(sizes), rng)
    base = emb.embed_array(texts[:1000])
    np_rng = np.random.default_rng(7)
    out = {}
    store = Store(replace(Settings(), data_dir=tmp / "search", chroma_url=None))
    stored = 0
    all_ids: list[str] = []
    all_vecs: list[np.ndarray] = []
    for size in sorted(sizes):
        t0 = time.perf_counter()
        for start in range(stored, size, 50):      # documents of 50 chunks
            batch = texts[start:min(start + 50, size)]
            vecs = base[np_rng.integers(0, len(base), len(batch))] + np_rng.normal(0, 0.02, (len(batch), base.shape[1]))
            vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
            chunks = [Chunk(text=t, index_text=t, ordinal=i, tokens=thai.tokenize(t)) for i, t in enumerate(batch)]
            doc = Document(path=f"synthetic-{start}", file_name=f"synthetic-{start}.txt", sha256="",
                           title="", fiscal_year=2564 if start % 100 else 2563, doc_type="txt", chunks=chunks)
            store.replace_document(doc, vecs)
            all_ids += [f"{doc.doc_id}:{i}" for i in range(len(batch))]
            all_vecs.append(vecs)
        stored = size
        build_s = time.perf_counter() - t0
        retriever = Retriever(store)
        t0 = time.perf_counter()
        retriever.search("warm-up การบังคับคดี")      # builds both BM25 indexes once
        index_s = time.perf_counter() - t0
        lat = {"hybrid": [], "bm25": [], "chars": [], "dense": []}
        for q in queries:
            for mode in lat:
                retriever._query_vector.cache_clear()    # every mode pays for its own query embedding
                t = time.perf_counter()
                retriever.search(q, k=10, mode=mode)
                lat[mode].append(time.perf_counter() - t)
        out[str(size)] = {"chunks": store.stats()["chunks"], "build_s": round(build_s, 1),
                          "lexical_index_build_s": round(index_s, 1),
                          **{f"{m}_p50_ms": round(pct(v, 50), 1) for m, v in lat.items()},
                          **{f"{m}_p95_ms": round(pct(v, 95), 1) for m, v in lat.items()},
                          "search_breadth": bench_breadth(store, all_ids, np.vstack(all_vecs),
                                                          [emb.get_query_embedding(q) for q in queries], tmp)}
    store.close()
    return out


def bench_breadth(store, ids: list[str], vecs: np.ndarray, query_vecs: list, tmp: Path) -> dict:
    """Chroma's default HNSW breadth beside SEARCH_EF on copies of one collection, queried in
    alternating rounds. (A breadth is fixed once a process has loaded the index, hence copies,
    each opened by its own client and set before its first query.)"""
    import shutil

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from kb.retrieve import POOL
    from kb.store import SEARCH_EF
    exact = [{ids[i] for i in np.argsort(-(vecs @ np.asarray(q, dtype=np.float32)))[:POOL]}
             for q in query_vecs]
    collections = {}
    for ef in (100, SEARCH_EF):
        path = tmp / f"breadth-{len(ids)}-{ef}"
        shutil.copytree(store.dir / "chroma", path)
        client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
        collections[ef] = client.get_collection(store.settings.collection)
        collections[ef].modify(configuration={"hnsw": {"ef_search": ef}})
    lat: dict[int, list[float]] = {ef: [] for ef in collections}
    recall: dict[int, list[float]] = {ef: [] for ef in collections}
    for ef in (100, SEARCH_EF, 100, SEARCH_EF):
        for q, want in zip(query_vecs, exact):
            t = time.perf_counter()
            got = collections[ef].query(query_embeddings=[list(map(float, q))], n_results=POOL, include=[])
            lat[ef].append(time.perf_counter() - t)
            recall[ef].append(len(want & set(got["ids"][0])) / POOL)
    return {f"ef{ef}": {"p50_ms": round(pct(lat[ef], 50), 1), "p95_ms": round(pct(lat[ef], 95), 1),
                        "recall_at_pool": round(statistics.mean(recall[ef]), 4)} for ef in lat}


def bench_evidence(kb, qrels: Path) -> dict:
    from kb.evaluate import read_qrels
    codes = list(read_qrels(qrels))
    kb.evidence(codes[0])                           # warm-up
    lat = []
    for code in codes:
        t = time.perf_counter()
        kb.evidence(code, k=10)
        lat.append(time.perf_counter() - t)
    return {"criteria": len(codes), "p50_ms": round(pct(lat, 50), 1), "p95_ms": round(pct(lat, 95), 1),
            "mean_ms": round(1000 * statistics.mean(lat), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--beir", type=Path, default=ROOT.parent / "shared/eval/iapp-dev")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        tmp = Path(tmp)
        ingest = bench_ingest(ROOT / "corpus", tmp)
        kb = ingest.pop("kb")
        evidence = bench_evidence(kb, ROOT / "corpus/qrels.tsv")
        sizes = [int(s) for s in args.sizes.split(",") if s]
        search = bench_search(sizes, args.queries, tmp, args.beir) if sizes else {}
    print(json.dumps({"ingest": ingest, "evidence": evidence, "search": search}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
