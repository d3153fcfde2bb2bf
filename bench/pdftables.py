"""Tables in text PDFs (issue 9): cell accuracy on generated table PDFs.

Each PDF holds one ruled table of made-up Thai labels and figures (tests/pdftable_support.py:
Garuda, Thai shaped by HarfBuzz, cells wrapped between Thai words, as Word prints them), with a
paragraph above and below; 2–6 columns of random widths and 3–30 rows, so that long tables run
onto the next page, with the header repeated there or not. The tables are read back with
ingest/pdftables.py, the code ingestion uses, page by page in order; a continuation page's
repeated header is not counted as a row.

A cell is right when the text read equals the text printed after the index's normalisation,
whitespace left out (a space between two Thai words is not something a reader sees; a cell's
words wrapped onto two lines come back with one). `exact` counts spaces too. Missing rows and
cells count as wrong; so do cells of a table not found.

Usage: python bench/pdftables.py [--tables 60] [--seed 7] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pdftable_support import PdfBuilder, random_label, random_table   # noqa: E402

from ingest.pdftables import PdfTables                             # noqa: E402
from textmodel import thai                                         # noqa: E402


def make(path: Path, rng: random.Random) -> tuple[list[list[str]], int]:
    """One table PDF; (the rows printed, header first; its page count)."""
    rows = random_table(rng, rows=rng.randint(3, 30))
    widths = [rng.uniform(1.0, 3.0) for _ in rows[0]]
    b = PdfBuilder().para(random_label(rng, 12)).table(rows, widths=widths, repeat_header=rng.random() < 0.5)
    b.para(random_label(rng, 10))
    b.save(path)
    return rows, b.pdf.pages_count


def read(path: Path) -> list[list[str]]:
    """The rows of the tables found, page after page, as ingestion reads them."""
    from pypdf import PdfReader
    reader = PdfReader(path)
    out: list[list[str]] = []
    with PdfTables(path) as tables:
        for number, page in enumerate(reader.pages, start=1):
            for part in tables.page(number, page.extract_text() or "", page) or []:
                if isinstance(part, str):
                    continue
                grid = [list(r) for r in part.grid]
                if out and grid and _key(grid[0]) == _key(out[0]):
                    grid = grid[1:]                  # the header printed again on this page
                out.extend(grid)
    return out


def _key(cells: list[str], spaces: bool = False) -> tuple[str, ...]:
    def one(c: str) -> str:
        c = thai.normalize(c)
        return " ".join(c.split()) if spaces else "".join(c.split())
    return tuple(one(c) for c in cells)


def score(printed: list[list[str]], found: list[list[str]]) -> dict:
    right = exact = total = 0
    for i, row in enumerate(printed):
        got = found[i] if i < len(found) else []
        want, have = _key(row), _key(got)
        want_s, have_s = _key(row, True), _key(got, True)
        for j in range(len(row)):
            total += 1
            right += j < len(have) and have[j] == want[j]
            exact += j < len(have_s) and have_s[j] == want_s[j]
    return {"cells": total, "right": right, "exact": exact,
            "rows_printed": len(printed), "rows_found": len(found)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, help="per-table figures as JSON lines")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    per, seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.tables):
            path = Path(tmp) / f"t{n}.pdf"
            printed, pages = make(path, rng)
            t0 = time.perf_counter()
            found = read(path)
            seconds.append((time.perf_counter() - t0) / pages)
            per.append({"table": n, "pages": pages, "columns": len(printed[0]), **score(printed, found)})
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in per), encoding="utf-8")
    cells = sum(r["cells"] for r in per)
    multi = [r for r in per if r["pages"] > 1]
    summary = {
        "tables": len(per),
        "tables_over_pages": len(multi),
        "cells": cells,
        "cell_accuracy": round(sum(r["right"] for r in per) / cells, 4),
        "cell_accuracy_exact": round(sum(r["exact"] for r in per) / cells, 4),
        "cell_accuracy_over_pages": round(sum(r["right"] for r in multi) / max(1, sum(r["cells"] for r in multi)), 4),
        "tables_all_cells_right": sum(r["right"] == r["cells"] for r in per),
        "rows_missing": sum(max(0, r["rows_printed"] - r["rows_found"]) for r in per),
        "rows_extra": sum(max(0, r["rows_found"] - r["rows_printed"]) for r in per),
        "seconds_per_page_median": round(statistics.median(seconds), 3),
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
