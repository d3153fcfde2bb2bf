"""Ingestion as a worker's job, with real processes: a `kb worker` subprocess on a temporary data
directory, and the web app served by uvicorn in this process (the "web process").

One expensive set-up for the module: a store with three documents ingested here, the app, and a
worker that the tests start, kill (-9) and start again with other limits. The tests run in the
order written (the first one needs the worker not started yet).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from review_support import USERS, make_users, sample_docs

pytestmark = pytest.mark.slow

FINISHED = ("done", "failed", "cancelled")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def big_text(name: str, paragraphs: int = 160) -> bytes:
    """A report of many distinct paragraphs: seconds of embedding, so a job can be caught running."""
    lines = [f"# รายงานผลการดำเนินงาน {name}"]
    for i in range(paragraphs):
        lines.append(f"ข้อ {i + 1}. ในเดือนที่ {i % 12 + 1} หน่วยงานย่อยที่ {i} ได้จัดประชุมติดตามโครงการ "
                     f"ลดการใช้พลังงานไฟฟ้า {i * 7 % 100} หน่วย และจัดอบรมเจ้าหน้าที่ {i * 3 % 50} คน "
                     f"เรื่องการให้บริการประชาชนผ่านระบบออนไลน์ รหัสงาน {name}-{i:04d}")
    return "\n\n".join(lines).encode("utf-8")


class Worker:
    """`kb worker` as a subprocess on the module's data directory."""

    def __init__(self, env: dict, log: Path):
        self.base_env, self.log, self.proc, self.extra = env, log, None, None

    def start(self, **extra: str) -> None:
        self.stop()
        self.extra = extra
        start_at = self.log.stat().st_size if self.log.exists() else 0
        out = self.log.open("ab")
        kb = Path(sys.executable).with_name("kb")
        cmd = [str(kb), "worker"] if kb.exists() else [sys.executable, "-m", "kb.cli", "worker"]
        self.proc = subprocess.Popen(cmd, env={**self.base_env, **extra}, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if "worker for" in self.log.read_bytes()[start_at:].decode("utf-8", "replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"kb worker did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def ensure(self, **extra: str) -> None:
        """Running, with these extra settings."""
        if self.proc is None or self.proc.poll() is not None or self.extra != extra:
            self.start(**extra)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)          # huey: finish the running task, then exit
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class Web:
    """The served app: an HTTP client, a Bearer token per role, and the app's own objects."""

    def __init__(self, url: str, app):
        self.url, self.app = url, app
        self.ctx = app.state.ctx
        self.kb, self.db = self.ctx.kb, self.ctx.db
        self.http = httpx.Client(base_url=url, timeout=120)
        self.tokens = {role: self.http.post("/api/tokens", json={"name": role, "password": pw}).json()["token"]
                       for role, pw in USERS.items()}
        self.aid = None
        self.aid = self.get("/api/assessments").json()[0]["id"]

    def h(self, role: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, url: str, role: str = "viewer", client: httpx.Client | None = None) -> httpx.Response:
        return (client or self.http).get(url.replace("{aid}", str(self.aid)), headers=self.h(role))

    def post(self, url: str, role: str = "editor", client: httpx.Client | None = None, **kw) -> httpx.Response:
        return (client or self.http).post(url.replace("{aid}", str(self.aid)), headers=self.h(role), **kw)

    def upload(self, files: list[tuple[str, bytes]], role: str = "editor") -> dict:
        r = self.post("/api/documents", role, files=[("files", (n, b, "text/plain")) for n, b in files])
        assert r.status_code == 202, r.text
        return r.json()["job"]

    def job(self, job_id: str) -> dict:
        return self.get(f"/api/jobs/{job_id}").json()

    def wait(self, job_id: str, until=lambda j: j["state"] in FINISHED, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if until(job):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not get there: {job}")

    def uploads(self, job_id: str) -> dict[str, dict]:
        return {u["file_name"]: u for u in self.db.uploads() if u["job_id"] == job_id}

    def stored(self) -> dict[str, tuple[str, int]]:
        """file name → (sha256, chunks) of every stored document, read from the docstore file."""
        with sqlite3.connect(self.kb.store.dir / "docstore.sqlite") as con:
            return {n: (sha, c) for n, sha, c in con.execute("SELECT file_name, sha256, n_chunks FROM documents")}

    def worker_of(self, job_id: str) -> str:
        from kb.review import JobRecord
        with self.db.Session() as s:
            return s.get(JobRecord, job_id).worker


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(web, worker): a store of three documents, the app served on a free port, a worker not
    started yet. Generality scores (94 criteria at every change) are off through a params file,
    and so is the suggestion job after an ingest: each test asks for what it reads."""
    import uvicorn

    from api.app import create_app
    from kb.config import Settings
    from kb.service import KnowledgeBase
    root = tmp_path_factory.mktemp("jobs")
    docs = sample_docs(root)
    (docs / "green-office-2564.txt").rename(root / "green-office-2564.txt")    # uploaded in test (a)
    params = root / "params.toml"
    shipped = (Path(__file__).resolve().parents[1] / "kb" / "data" / "params.toml").read_text(encoding="utf-8")
    params.write_text(re.sub(r"(?m)^generic_penalty = .*$", "generic_penalty = 0.0", shipped), encoding="utf-8")
    data, review = root / "data", root / "review.sqlite"
    env = {**os.environ, "KB_DATA_DIR": str(data), "KB_DATABASE_URL": f"sqlite:///{review}",
           "KB_PARAMS": str(params), "KB_SUGGEST_AFTER_INGEST": "0", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("KB_CHROMA_URL", None)
    env.pop("KB_QUEUE_URL", None)
    mp = pytest.MonkeyPatch()
    for key in ("KB_PARAMS", "KB_SUGGEST_AFTER_INGEST"):
        mp.setenv(key, env[key])
    mp.delenv("KB_QUEUE_URL", raising=False)
    kb = KnowledgeBase(replace(Settings(), data_dir=data, chroma_url=None))
    assert kb.ingest([docs], progress=False).ingested == 3
    app = create_app(kb=kb, database=f"sqlite:///{review}", agency="กรมทดสอบ", fiscal_year=2564)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    make_users(app.state.ctx.db)
    web = Web(f"http://127.0.0.1:{port}", app)
    web.root = root
    worker = Worker(env, root / "worker.log")
    try:
        yield web, worker
    finally:
        worker.stop()
        web.http.close()
        server.should_exit = True
        thread.join(timeout=15)
        kb.store.close()
        mp.undo()


def test_cancel_a_queued_job_before_the_worker_starts(setup):
    web, worker = setup
    assert worker.proc is None                                   # nothing consumes the queue yet
    job = web.upload([("queued-a.txt", big_text("queued-a", 5)), ("queued-b.txt", big_text("queued-b", 5))])
    assert job["state"] == "queued"
    time.sleep(0.5)
    assert web.job(job["id"])["state"] == "queued"               # the web process does not run it
    assert web.post(f"/api/jobs/{job['id']}/cancel", "viewer").status_code == 403
    r = web.post(f"/api/jobs/{job['id']}/cancel", "editor")
    assert r.status_code == 200 and r.json()["state"] == "cancelled" and "ยกเลิก" in r.json()["message"]
    assert web.post(f"/api/jobs/{job['id']}/cancel", "editor").status_code == 409
    rows = web.uploads(job["id"])
    assert {n: u["state"] for n, u in rows.items()} == {"queued-a.txt": "cancelled", "queued-b.txt": "cancelled"}
    assert all(u["error"].startswith(f"{n}:") for n, u in rows.items())     # each names its file

    # the worker takes the cancelled job's id from the queue and leaves it alone
    worker.start()
    marker = web.wait(web.upload([("marker.txt", "บันทึกการประชุมเรื่องการลดขยะ".encode())])["id"])
    assert marker["state"] == "done" and marker["result"] == {"marker.txt": 1}
    assert web.job(job["id"])["state"] == "cancelled"
    assert not {"queued-a.txt", "queued-b.txt"} & set(web.stored())


def test_upload_is_ingested_by_the_worker_and_searchable_in_the_web_process(setup):
    web, worker = setup
    worker.ensure()
    store = web.kb.store
    query = "/api/search?q=นโยบายสำนักงานสีเขียว ร่วมมือร่วมใจใช้ถุงผ้า&mode=dense&k=3"
    before = web.get(query).json()                               # opens Chroma in this process
    assert before and "green-office-2564.txt" not in {h["file_name"] for h in before}
    seen = store._vectors_generation
    job = web.upload([("green-office-2564.txt", (web.root / "green-office-2564.txt").read_bytes())])
    done = web.wait(job["id"])
    assert done["state"] == "done" and done["errors"] == [] and done["result"]["green-office-2564.txt"] >= 1
    # run by the worker process, not this one
    assert web.worker_of(job["id"]) == f"{socket.gethostname()}:{worker.proc.pid}" != f"{socket.gethostname()}:{os.getpid()}"
    assert store.generation() > seen == store._vectors_generation          # this process has not reloaded yet
    dense = web.get(query).json()
    assert dense[0]["file_name"] == "green-office-2564.txt"                 # the vectors the worker wrote
    assert store._vectors_generation == store.generation()
    hybrid = web.get("/api/search?q=ถุงผ้า").json()
    assert hybrid[0]["file_name"] == "green-office-2564.txt"
    listed = {d["file_name"]: d for d in web.get("/api/documents").json()}
    assert listed["green-office-2564.txt"]["state"] == "done" and listed["green-office-2564.txt"]["uploaded_by"] == "editor"


def test_cancel_a_running_job_stops_before_its_next_file(setup):
    web, worker = setup
    worker.ensure()
    names = [f"run-{i}.txt" for i in range(1, 4)]
    job = web.upload([(n, big_text(n, 80)) for n in names])
    web.wait(job["id"], lambda j: j["state"] == "running" and j["current"] == "run-1.txt")
    r = web.post(f"/api/jobs/{job['id']}/cancel", "editor")
    assert r.status_code == 200 and r.json()["cancel_requested"] and r.json()["state"] == "running"
    end = web.wait(job["id"])
    assert end["state"] == "cancelled", end
    rows = web.uploads(job["id"])
    states = [rows[n]["state"] for n in names]
    stored = web.stored()
    assert states[0] == "done" and states[-1] == "cancelled", states          # the file in progress finished
    assert states in (["done", "cancelled", "cancelled"], ["done", "done", "cancelled"])
    for n, state in zip(names, states):
        assert (n in stored) == (state == "done"), n
        if state == "cancelled":
            assert rows[n]["error"].startswith(f"{n}:")
    assert end["result"] == {n: stored[n][1] for n, s in zip(names, states) if s == "done"}
    assert f"ไม่ได้นำเข้า {states.count('cancelled')} ไฟล์" in end["message"]


def test_kill_9_mid_job_then_the_restarted_worker_finishes_it(setup):
    web, worker = setup
    worker.ensure()
    names = ["crash-1.txt", "crash-2.txt"]
    job = web.upload([(n, big_text(n, 80)) for n in names])
    web.wait(job["id"], lambda j: j["current"] == "crash-2.txt" and j["done"] == 1)
    dead = worker.proc.pid
    worker.kill9()
    time.sleep(0.5)
    after = web.job(job["id"])
    assert after["state"] == "running" and web.worker_of(job["id"]).endswith(f":{dead}")   # nobody says otherwise
    assert web.uploads(job["id"])["crash-1.txt"]["state"] == "done"
    worker.start()
    end = web.wait(job["id"])
    assert end["state"] == "done" and end["errors"] == [], end
    rows, stored = web.uploads(job["id"]), web.stored()
    assert {n: rows[n]["state"] for n in names} == {n: "done" for n in names}
    assert end["result"] == {n: stored[n][1] for n in names} and end["done"] == end["total"] == 2
    assert web.worker_of(job["id"]).endswith(f":{worker.proc.pid}")


def test_a_starting_worker_makes_the_vector_store_agree_with_the_docstore(setup):
    import numpy as np

    from kb import doctor
    web, worker = setup
    worker.stop()
    store = web.kb.store
    lost = store.db.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id LIMIT 1").fetchone()[0]
    # what a crash between the Chroma write and the docstore commit leaves, and a lost vector
    orphan = {"chunk_id": "0badc0de0badc0de:0", "doc_id": "0badc0de0badc0de", "index_text": "ข้อความกำพร้า",
              "file_name": "gone.txt", "doc_type": "txt", "fiscal_year": 2564}
    store.add_vectors([orphan], np.ones((1, store.embedding.dim), dtype=np.float32))
    store.delete_vectors([lost])
    assert not doctor.check(store).healthy
    at = worker.log.stat().st_size
    worker.start()
    deadline = time.monotonic() + 120
    while "repaired 2 vectors" not in worker.log.read_bytes()[at:].decode("utf-8", "replace"):
        assert time.monotonic() < deadline, worker.log.read_text(errors="replace")[-3000:]
        time.sleep(0.1)
    after = doctor.check(store)
    assert after.healthy and store.chunk_vectors([lost])


def test_a_file_over_the_time_limit_fails_by_name_and_leaves_the_store_alone(setup):
    web, worker = setup
    worker.ensure(KB_MAX_FILE_SECONDS="0.001")
    before, generation = web.stored(), web.kb.store.generation()
    job = web.upload([("slow-report.txt", big_text("slow-report")),
                      ("green-office-2564.txt", big_text("green-office-new"))])       # a stored one, replaced
    end = web.wait(job["id"])
    assert end["state"] == "done" and end["result"] == {} and len(end["errors"]) == 2
    for name in ("slow-report.txt", "green-office-2564.txt"):
        error = web.uploads(job["id"])[name]["error"]
        assert error.startswith(f"{name}:") and "เกิน 0.001 วินาทีต่อไฟล์" in error and "KB_MAX_FILE_SECONDS" in error
    assert web.stored() == before and web.kb.store.generation() == generation
    assert not any("green-office-new" in h["text"] for h in web.get("/api/search?q=green-office-new&k=20").json())
    worker.start()                                               # the default limits again


def _review_rows(web, code: str) -> tuple:
    with sqlite3.connect(web.root / "review.sqlite") as con:
        links = con.execute("SELECT id, chunk_id, state, rank, score, suggested_at FROM evidence_links "
                            "WHERE code = ? ORDER BY id", (code,)).fetchall()
        counts = tuple(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                       for t in ("evidence_links", "audit_events", "criterion_states"))
        generation = con.execute("SELECT suggested_generation FROM criterion_states WHERE code = ?", (code,)).fetchall()
    return links, counts, generation


def _session(web, role: str) -> httpx.Client:
    c = httpx.Client(base_url=web.url, timeout=120)
    r = c.post("/login", data={"name": role, "password": USERS[role], "next": "/"})
    assert r.status_code in (200, 303) and "kb_session" in c.cookies, r.text
    return c


def test_viewing_a_criterion_writes_nothing_even_when_the_store_moved(setup):
    web, worker = setup
    worker.ensure()
    fresh = web.post("/api/assessments/{aid}/criteria/1.3.1/evidence/refresh", "editor")
    assert fresh.status_code == 200 and fresh.json()
    done = web.wait(web.upload([("e-filing-note.txt", "สถิติการยื่นคำร้องผ่านระบบ e-Filing เพิ่มขึ้นทุกเดือน".encode())])["id"])
    assert done["state"] == "done" and done["errors"] == []
    viewer = _session(web, "viewer")                             # logging in writes (a session)
    before = _review_rows(web, "1.3.1")
    page = viewer.get(f"/a/{web.aid}/c/1.3.1")
    assert page.status_code == 200 and 'id="suggestions-stale"' in page.text
    ev = web.get("/api/assessments/{aid}/criteria/1.3.1/evidence")
    assert ev.status_code == 200 and ev.headers["x-suggestions-stale"] == "1"
    assert web.get("/api/assessments/{aid}/criteria/1.3.1").json()["suggestions_stale"] is True
    assert _review_rows(web, "1.3.1") == before
    viewer.close()


def test_concurrent_clients_during_an_ingest_get_no_server_error(setup):
    web, worker = setup
    worker.ensure()
    links = web.post("/api/assessments/{aid}/criteria/1.3.1/evidence/refresh", "editor").json()
    assert len(links) >= 2
    job = web.upload([(f"busy-{i}.txt", big_text(f"busy-{i}", 60)) for i in range(1, 4)])
    web.wait(job["id"], lambda j: j["state"] == "running")
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def record(what: str, r: httpx.Response) -> None:
        with lock:
            results.append((what, r.status_code, time.monotonic()))

    def reader(i: int) -> None:
        session = _session(web, "viewer")
        with httpx.Client(base_url=web.url, timeout=120) as api:
            n = 0
            while not stop.is_set() or n < 3:
                record("page", session.get(f"/a/{web.aid}/c/1.3.1"))
                record("evidence", web.get("/api/assessments/{aid}/criteria/1.3.1/evidence", client=api))
                record("search", web.get(f"/api/search?q=การประชุม {i} {n}", client=api))
                record("documents", web.get("/api/documents", client=api))
                n += 1
        session.close()

    def writer() -> None:
        with httpx.Client(base_url=web.url, timeout=120) as api:
            n = 0
            while not stop.is_set() or n < 2:
                link = links[n % len(links)]
                record("accept", web.post(f"/api/assessments/{{aid}}/evidence/{link['id']}/accept", client=api))
                record("refresh", web.post("/api/assessments/{aid}/criteria/1.1.1/evidence/refresh", client=api))
                record("reset", web.post(f"/api/assessments/{{aid}}/evidence/{link['id']}/reset", client=api))
                n += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)] + [threading.Thread(target=writer)]
    started = time.monotonic()
    for t in threads:
        t.start()
    end = web.wait(job["id"], timeout=300)
    finished = time.monotonic()
    stop.set()
    for t in threads:
        t.join(120)
    assert end["state"] == "done" and end["errors"] == []
    errors = [(w, s) for w, s, _ in results if s >= 500]
    assert errors == [], errors
    assert {(w, s) for w, s, _ in results} <= {(w, 200) for w in ("page", "evidence", "search", "documents",
                                                                   "accept", "refresh", "reset")}
    during = [r for r in results if started <= r[2] <= finished]
    assert len(during) >= 40 and {"accept", "refresh"} <= {w for w, _, _ in during}, len(during)
    # the documents ingested meanwhile are searchable in this process
    assert {"busy-1.txt", "busy-2.txt", "busy-3.txt"} <= set(web.stored())
    for mode in ("dense", "hybrid"):
        assert web.get(f"/api/search?q=การประชุมติดตามโครงการ&file=busy-3.txt&mode={mode}").json(), mode
