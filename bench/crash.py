"""kill -9 at random moments of an ingest: do docstore, Chroma and the lexical index still agree?

Twenty rounds on one data folder. Each round changes the text files of a small folder copied
from corpus/ (so every file is ingested again: old vectors deleted, new ones written), starts
`kb ingest` in its own process, kills it with SIGKILL after a random delay within the time a
full ingest takes, and then runs the check of `kb doctor` in a fresh process. A round that
disagrees is repaired (`kb doctor --repair`) and checked again.

Usage: python bench/crash.py [--rounds 20] [--seed 7]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ["canteen-menu-queue-announcement-2564.txt", "eodb-benchmark-memo-2563.txt", "km-plan-2564.md",
         "km-mediation-best-practice-2564.txt", "core-values-culture-project-2564.md",
         "one-office-one-innovation-policy-2564.txt", "half-year-report-2564.html",
         "staff-awards-announcement-2564.html"]


def kb(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kb.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "docs"
        folder.mkdir()
        env = {**os.environ, "KB_DATA_DIR": str(tmp / "data")}
        env.pop("KB_DATABASE_URL", None)

        def change(round_no: int) -> None:
            for name in FILES:
                # bytes: some corpus texts are TIS-620; an ASCII line is the same in every encoding
                data = (ROOT / "corpus" / name).read_bytes()
                (folder / name).write_bytes(data + f"\n\nrevision {round_no}\n".encode())

        change(0)
        start = time.monotonic()
        assert kb(env, "ingest", str(folder), "--quiet").returncode == 0
        full = time.monotonic() - start
        print(f"a full ingest of {len(FILES)} files takes {full:.1f} s; kill -9 within that time\n")
        print("| round | killed after s | check after the kill | after repair |")
        print("|---|---|---|---|")
        agreed = repaired = 0
        for r in range(1, args.rounds + 1):
            change(r)
            delay = rng.uniform(0.2, full)
            proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "ingest", str(folder), "--quiet"], env=env,
                                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            time.sleep(delay)
            finished = proc.poll() is not None
            if not finished:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            check = kb(env, "doctor")
            if check.returncode == 0:
                agreed += 1
                outcome, after = "agree", ""
            else:
                outcome = " / ".join(check.stdout.strip().splitlines()[1:-1]) or check.stderr.strip()[-200:]
                fix = kb(env, "doctor", "--repair")
                after = "agree" if fix.returncode == 0 else "still disagree"
                repaired += fix.returncode == 0
            print(f"| {r} | {delay:.1f}{' (had finished)' if finished else ''} | {outcome} | {after} |")
        print(f"\n{agreed} of {args.rounds} rounds agreed after kill -9; "
              f"{repaired} of {args.rounds - agreed} others agreed after `kb doctor --repair`")
        shutil.rmtree(tmp / "data", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
