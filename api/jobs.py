"""Background jobs (ingestion, bulk evidence suggestion) with progress a client can poll.

One worker thread: jobs write to the one store, and ingesting two files at once would only
make both slower (the embedding model already uses the cores). Job records live in memory —
a restart forgets them, but what they did (the store, the uploads table) persists.
"""
from __future__ import annotations

import threading
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

KEEP = 200     # finished jobs remembered for polling


@dataclass
class Job:
    id: str
    kind: str                  # ingest | suggest
    total: int                 # units of work (files, criteria)
    user: str | None = None
    state: str = "queued"      # queued | running | done | failed
    done: int = 0
    current: str = ""          # what is being worked on now
    message: str = ""          # a line for people, in Thai
    errors: list[str] = field(default_factory=list)
    result: dict = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "state": self.state, "total": self.total,
                "done": self.done, "progress": round(self.done / self.total, 4) if self.total else 1.0,
                "current": self.current, "message": self.message, "errors": list(self.errors),
                "result": dict(self.result), "user": self.user, "created_at": self.created_at,
                "finished_at": self.finished_at}


class JobRunner:
    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    def submit(self, kind: str, total: int, work: Callable[[Job], None], user: str | None = None,
               job_id: str | None = None) -> Job:
        job = Job(id=job_id or self.new_id(), kind=kind, total=total, user=user,
                  message="รอคิวประมวลผล")
        with self._lock:
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.finished]
            for old in finished[:max(0, len(finished) - KEEP)]:
                del self._jobs[old]
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], None]) -> None:
        job.state = "running"
        try:
            work(job)
            job.state = "done"       # per-item failures are in job.errors; the job itself ran
        except Exception as exc:  # a job must always end in a state a poller can see
            job.errors.append(f"{type(exc).__name__}: {exc}")
            job.message = "งานล้มเหลว: " + str(exc)
            job.state = "failed"
            traceback.print_exc()
        finally:
            job.current = ""
            job.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job ends (tests and the CLI; the web app polls instead)."""
        import time
        deadline = time.monotonic() + timeout
        job = self._jobs[job_id]
        while not job.finished and time.monotonic() < deadline:
            time.sleep(0.05)
        return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
