"""Concurrent clients against the real service, with and without an ingest running (issue 10).

Starts `kb serve` and `kb worker` as processes on a temporary data folder holding the sample
corpus, then for each client count runs that many clients for `--seconds` each, twice: once on a
quiet service and once while uploads keep the worker ingesting (one upload of a changed file
every few seconds, so the store changes under the readers). Every client loops over a mix of
reads and writes through the REST API with its own token:

  reads (80 %):  search · a criterion with its evidence · the criteria overview · documents
  writes (20 %): accept or reject a suggested passage · add a comment

Reports requests, 5xx count, other errors, p50/p95 per configuration. The machine is shared:
the latencies are one run's percentiles, the 5xx count is the figure that matters.

Usage: python bench/load.py [--clients 20,50] [--seconds 60]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CODES = ["1.3.1", "4.4.1", "3.4.3", "2.1.1", "5.2.1", "6.1.1"]
QUERIES = ["สถิติ e-Filing รายเดือน", "แผนบริหารความเสี่ยง", "ความพึงพอใจของผู้รับบริการ", "ลดการใช้กระดาษ",
           "LED Queue", "การจัดการความรู้"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kb(env, *args, **kw) -> str:
    return subprocess.run([sys.executable, "-m", "kb.cli", *args], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True, **kw).stdout


async def client(http: httpx.AsyncClient, token: str, aid: int, until: float, out: dict, rng: random.Random):
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < until:
        code = rng.choice(CODES)
        roll = rng.random()
        try:
            start = time.perf_counter()
            if roll < 0.8:
                kind = rng.choice(["search", "criterion", "overview", "documents"])
                url = {"search": f"/api/search?q={rng.choice(QUERIES)}&k=10",
                       "criterion": f"/api/assessments/{aid}/criteria/{code}/evidence",
                       "overview": f"/api/assessments/{aid}/criteria",
                       "documents": "/api/documents"}[kind]
                r = await http.get(url, headers=headers)
            else:
                crit = (await http.get(f"/api/assessments/{aid}/criteria/{code}", headers=headers)).json()
                links = [e for e in crit.get("evidence", []) if e.get("state") == "suggested"]
                if links and rng.random() < 0.6:
                    link = rng.choice(links)
                    r = await http.post(f"/api/assessments/{aid}/evidence/{link['id']}/"
                                        f"{rng.choice(['accept', 'reject'])}", headers=headers, json={})
                else:
                    r = await http.post(f"/api/assessments/{aid}/criteria/{code}/comments", headers=headers,
                                        json={"text": "ตรวจแล้ว ขอเอกสารประกอบเพิ่ม"})
            out["ms"].append(1000 * (time.perf_counter() - start))
            if r.status_code >= 500:
                out["5xx"] += 1
            elif r.status_code >= 400 and r.status_code not in (404, 409):   # a lost race on a decision
                out["other"][r.status_code] = out["other"].get(r.status_code, 0) + 1
        except httpx.HTTPError as exc:
            out["errors"].append(type(exc).__name__)


async def uploader(http: httpx.AsyncClient, token: str, until: float, folder: Path, out: dict):
    n = 0
    while time.monotonic() < until:
        n += 1
        name = f"memo-{n % 3}.txt"
        text = (f"บันทึกข้อความ ฉบับที่ {n}: สรุปผลการให้บริการผ่านระบบ e-Filing และ LED Queue "
                f"ประจำเดือน จำนวนผู้รับบริการ {1000 + n} ราย ความพึงพอใจร้อยละ {80 + n % 15}\n") * 20
        r = await http.post("/api/documents", headers={"Authorization": f"Bearer {token}"},
                            files={"files": (name, text.encode(), "text/plain")})
        out["uploads"] += r.status_code == 202
        if r.status_code >= 500:
            out["5xx"] += 1
        await asyncio.sleep(4)


async def run(base: str, tokens: list[str], aid: int, clients: int, seconds: float, ingest: bool, folder: Path):
    out = {"ms": [], "5xx": 0, "other": {}, "errors": [], "uploads": 0}
    until = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        tasks = [client(http, tokens[i % len(tokens)], aid, until, out, random.Random(i)) for i in range(clients)]
        if ingest:
            tasks.append(uploader(http, tokens[0], until, folder, out))
        await asyncio.gather(*tasks)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="20,50")
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kb-load-"))
    env = {**os.environ, "KB_DATA_DIR": str(tmp / "data")}
    env.pop("KB_DATABASE_URL", None)
    procs = []
    try:
        kb(env, "ingest", str(ROOT / "corpus"), "--quiet")
        tokens = [kb(env, "user", "add", f"editor{i}", "--role", "editor", "--password", f"pass-word-{i}",
                     "--token").strip().splitlines()[-1] for i in range(5)]
        port = free_port()
        log = open(tmp / "serve.log", "w")
        procs.append(subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(port),
                                       "--agency", "กรมทดสอบ", "--year", "2564"], env=env, cwd=ROOT,
                                      stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([sys.executable, "-m", "kb.cli", "worker"], env=env, cwd=ROOT,
                                      stdout=open(tmp / "worker.log", "w"), stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        aid = httpx.get(f"{base}/api/assessments", headers=headers).json()[0]["id"]
        # suggestions for the criteria the clients visit, computed once (a job), as after an ingest
        job = httpx.post(f"{base}/api/assessments/{aid}/suggest", headers=headers, timeout=60,
                         json={"codes": CODES}).json()
        for _ in range(300):
            if httpx.get(f"{base}/api/jobs/{job['id']}", headers=headers).json().get("state") in (
                    "done", "failed", "cancelled"):
                break
            time.sleep(1)
        print("| clients | ingest running | requests | 5xx | other 4xx | client errors | p50 ms | p95 ms | uploads |")
        print("|---|---|---|---|---|---|---|---|---|")
        for n in (int(c) for c in args.clients.split(",")):
            for ingest in (False, True):
                out = asyncio.run(run(base, tokens, aid, n, args.seconds, ingest, tmp))
                ms = sorted(out["ms"])
                p50 = statistics.median(ms) if ms else 0
                p95 = ms[int(0.95 * (len(ms) - 1))] if ms else 0
                other = ", ".join(f"{k}×{v}" for k, v in sorted(out["other"].items())) or "0"
                print(f"| {n} | {'yes' if ingest else 'no'} | {len(ms):,} | {out['5xx']} | {other} | "
                      f"{len(out['errors'])} | {p50:.0f} | {p95:.0f} | {out['uploads'] if ingest else ''} |",
                      flush=True)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
