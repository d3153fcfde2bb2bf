"""Thai OCR quality (issue 9): character error rate, and retrieval on OCR'd text beside the original.

Passages are printed to a page as Word would print them (Garuda 14 pt, Thai shaped by HarfBuzz),
rendered at 200 and 300 dpi, and read back through `ingest.ocr.recognise` — the code ingestion
uses. Each page is read clean and "scanned": turned 1–3° either way, blurred a little, with grey
noise, as a flatbed scan of a printed page looks. Passages come from the sample corpus (its .md and
.txt files, paragraphs of 120–400 characters) and from the iapp-dev Wikipedia set.

CER: edit distance over the passage's characters, spaces left out (Thai writes no spaces between
words, so a space found or lost is not an error a reader sees), after the same Unicode
normalisation the index applies.

Retrieval (`--retrieval`): a BEIR subset of iapp-dev (the first Q queries, their passages and others
up to P passages, each cut at 1,200 characters so it fits one page) is evaluated as `kb eval
retrieval` does, once on the original text and once on the text OCR'd from its scanned 300 dpi page.

Usage: python bench/ocr.py [--passages 20] [--retrieval --queries 50 --pool 120] [--jobs 2]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
IAPP = ROOT.parent / "shared" / "eval" / "iapp-dev"
PAGE_CHARS = 1200

from printed import cer, printed_page, squash          # noqa: E402


def read(args) -> tuple[str, float, float | None]:
    """(text, seconds, confidence) of one passage printed, maybe scanned, and OCR'd."""
    text, dpi, scanned, seed = args
    from ingest.ocr import recognise
    image = printed_page(text, dpi, scanned, seed, align="J")
    t0 = time.perf_counter()
    got = recognise(image)
    return got.text, time.perf_counter() - t0, got.confidence


def corpus_passages(n: int, rng: random.Random) -> list[str]:
    from ingest.loaders import load
    paras = []
    for f in sorted((ROOT / "corpus").glob("*")):
        if f.suffix in (".md", ".txt"):         # read as ingestion does (one of them is TIS-620)
            for p in (line for s in load(f).sections for line in s.text.split("\n")):
                p = " ".join(p.split())
                if 120 <= len(p) <= 400 and re.search("[\u0e00-\u0e7f]", p):
                    paras.append(p)
    return rng.sample(paras, min(n, len(paras)))


def iapp_passages(n: int, rng: random.Random) -> list[str]:
    rows = [json.loads(line) for line in (IAPP / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    for r in rng.sample(rows, n):
        text = r["text"][:400]
        out.append(text[:text.rfind(" ")] if " " in text[200:] else text)
    return out


def cer_table(n: int, jobs: int) -> list[dict]:
    rng = random.Random(7)
    sets = {"corpus": corpus_passages(n, rng), "iapp-dev": iapp_passages(n, rng)}
    rows = []
    with Pool(jobs) as pool:
        for source, passages in sets.items():
            for dpi in (200, 300):
                for scanned in (False, True):
                    got = pool.map(read, [(p, dpi, scanned, i) for i, p in enumerate(passages)])
                    errors = [cer(p, g[0]) for p, g in zip(passages, got)]
                    rows.append({"source": source, "dpi": dpi, "page": "scanned" if scanned else "clean",
                                 "passages": len(passages), "chars": sum(len(squash(p)) for p in passages),
                                 "cer_mean": round(statistics.fmean(errors) * 100, 2),
                                 "cer_pooled": round(sum(e * len(squash(p)) for e, p in zip(errors, passages))
                                                     / sum(len(squash(p)) for p in passages) * 100, 2),
                                 "cer_p90": round(sorted(errors)[int(0.9 * (len(errors) - 1))] * 100, 2),
                                 "seconds_p50": round(statistics.median(g[1] for g in got), 2)})
                    print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    return rows


def retrieval(queries: int, pool_size: int, jobs: int) -> dict:
    from kb.evaluate import eval_beir, load_beir
    corpus, qtext, qrels = load_beir(IAPP)
    chosen = [q for q in qtext if q in qrels][:queries]
    wanted = {d for q in chosen for d in qrels[q]}
    rng = random.Random(11)
    others = [p for p in corpus if p["_id"] not in wanted]
    passages = [p for p in corpus if p["_id"] in wanted]
    passages += rng.sample(others, max(0, pool_size - len(passages)))
    for p in passages:
        p["text"] = p["text"][:PAGE_CHARS]
    with Pool(jobs) as pool:
        read_back = pool.map(read, [(p["text"], 300, True, i) for i, p in enumerate(passages)])
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, texts in (("original", [p["text"] for p in passages]), ("ocr", [g[0] for g in read_back])):
            d = Path(tmp) / name
            (d / "qrels").mkdir(parents=True)
            (d / "corpus.jsonl").write_text("\n".join(json.dumps({**p, "text": t}, ensure_ascii=False)
                                                      for p, t in zip(passages, texts)), encoding="utf-8")
            (d / "queries.jsonl").write_text("\n".join(json.dumps({"_id": q, "text": qtext[q]}, ensure_ascii=False)
                                                       for q in chosen), encoding="utf-8")
            (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
                f"{q}\t{doc}\t{g}\n" for q in chosen for doc, g in qrels[q].items()), encoding="utf-8")
            r = eval_beir(d, progress=False)
            out[name] = {m: r[m]["nDCG@10"] for m in ("hybrid", "bm25", "dense")}
    out["passages"], out["queries"] = len(passages), len(chosen)
    out["cer_pooled"] = round(sum(cer(p["text"], g[0]) * len(squash(p["text"])) for p, g in zip(passages, read_back))
                              / sum(len(squash(p["text"])) for p in passages) * 100, 2)
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, default=20, help="passages per source for the CER table")
    ap.add_argument("--retrieval", action="store_true", help="also nDCG@10 on OCR'd iapp-dev passages")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--pool", type=int, default=120, help="passages in the retrieval subset")
    ap.add_argument("--jobs", type=int, default=2, help="pages read at once (one Tesseract thread each)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")      # one thread per Tesseract: the pool parallelises
    if args.passages:
        cer_table(args.passages, args.jobs)
    if args.retrieval:
        retrieval(args.queries, args.pool, args.jobs)


if __name__ == "__main__":
    main()
