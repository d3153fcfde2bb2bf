"""Cost of computing formula results a workbook was saved without (issue 9).

A workbook of n rows, each with one formula (=A{r}+B{r}) and no cached results (as openpyxl
writes it), is loaded through `ingest.loaders.load`; the time and the peak memory (RSS of a
fresh child process per size) show how the formula count drives the cost, which is what the
`KB_MAX_FORMULA_CELLS` limit bounds. Each size also checks that every formula reads as its value.

Usage: python bench/workbook.py [--sizes 1000,5000,10000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import openpyxl
from ingest.limits import Limits
from ingest.loaders import load

n, path = int(sys.argv[1]), Path(sys.argv[2])
wb = openpyxl.Workbook()
ws = wb.active
ws.append(["ลำดับ", "สองเท่า", "รวม"])
for r in range(2, n + 2):
    ws.append([r, 2 * r, f"=A{r}+B{r}"])
wb.save(path)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
loaded = load(path, Limits(max_formula_cells=n, max_chunks=10**9))
seconds = time.perf_counter() - start
lines = [line for s in loaded.sections for line in s.text.splitlines()]
right = sum(line.endswith(f"รวม: {3 * r}") for r, line in enumerate(lines, start=2))
print(json.dumps({"rows": n, "seconds": seconds, "right": right,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "before_mb": before / 1024}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,5000,10000")
    args = ap.parse_args()
    print("| formulas | load s | ms per formula | peak RSS MB | values right |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(Path(tmp) / f"{n}.xlsx")],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {n:,} | {r['seconds']:.1f} | {1000 * r['seconds'] / n:.2f} | {r['peak_mb']:.0f} "
                  f"| {r['right']:,} / {n:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
