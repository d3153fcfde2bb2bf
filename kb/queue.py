"""The job queue (huey) and the worker process that consumes it (`kb worker`).

The queue holds job ids only; what a job is and how far it got is its record (kb/jobs.py), in the
review database that the web app and the worker share. The queue lives in
`<data dir>/queue.sqlite` (SqliteHuey) by default, or in Redis when KB_QUEUE_URL=redis://host:6379/0
(RedisHuey; needs the `redis` package) — then web app and worker may run on different machines,
provided both see the same data directory, review database and Chroma.

Ingestion never runs in the web process: it enqueues, the worker runs. The worker loads the
embedding model once and runs one job at a time by default (jobs write to the one store, and the
model already uses the cores). Tests may build a queue in huey's immediate mode, which runs each
job synchronously where it is enqueued.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab

from kb.jobs import Job, JobStore, Runner

TASK = "kb.run_job"
QUEUE_FILE = "queue.sqlite"


def queue_url() -> str:
    return os.environ.get("KB_QUEUE_URL", "").strip()


def make_huey(settings, immediate: bool = False):
    """The huey instance for this data directory (or KB_QUEUE_URL)."""
    if immediate:
        return MemoryHuey("kb", immediate=True, results=False)
    url = queue_url()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("kb", url=url, results=False)
    if url:
        raise ValueError(f"KB_QUEUE_URL must be a redis:// URL (got '{url}'); "
                         "leave it unset for the SQLite queue in the data directory")
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return SqliteHuey("kb", filename=str(Path(settings.data_dir) / QUEUE_FILE), results=False)


def register(huey, runner: Callable[[], Runner]):
    """The one task, on this huey instance: run the job with that id. The name is fixed, so the
    web process (which only enqueues) and the worker agree on it."""
    @huey.task(name=TASK)
    def run_job(job_id: str) -> None:
        runner().run(job_id)
    return run_job


class JobQueue:
    """Jobs as the web app sees them: write a record, put its id on the queue, read, cancel.

    `immediate=True` (tests) runs each job at once, in the caller's thread, with `kb`."""

    def __init__(self, settings, db, kb=None, immediate: bool = False):
        self.huey = make_huey(settings, immediate)
        self.records = JobStore(db)
        self._runner = Runner(kb, db) if immediate else None
        self._task = register(self.huey, lambda: self._runner)
        if self._runner is not None:
            self._runner.enqueue = self._task

    new_id = staticmethod(JobStore.new_id)

    def submit(self, kind: str, total: int, params: dict, user: dict | None = None,
               job_id: str | None = None) -> Job:
        """The job as it was queued (in immediate mode it has run by the time this returns:
        read it again for its outcome)."""
        job = self.records.create(kind, total, params, user, job_id)
        self._task(job.id)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.records.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        return self.records.cancel(job_id)


def _check_store(kb, runner: Runner, log: logging.Logger) -> None:
    """At start, after a crash most of all: make the vector store agree with the docstore again
    (`kb doctor --repair`). Not while another worker runs a job: a document it is writing has its
    vectors before its chunks, and they would look like orphans."""
    from kb import doctor
    report = doctor.check(kb.store)
    if report.healthy:
        log.info("store checked: docstore, vectors and lexical index agree (%d chunks)", report.chunks)
        return
    for line in report.lines():
        log.warning("store check: %s", line)
    if runner.jobs.records(("running",)):
        log.warning("store check: another worker is running a job; run 'kb doctor --repair' when it ends")
        return
    log.warning("store check: repaired %d vectors", doctor.repair(kb.store, report))


def run_worker(settings, workers: int = 1) -> None:
    """`kb worker`: load the knowledge base once, set right what a crashed worker left, then
    consume the queue until SIGINT/SIGTERM (huey's consumer: SIGINT finishes the running job
    first). Once a minute (and at start) it also queues a suggestion job when the store moved
    past the suggestions of an open assessment, e.g. after `kb ingest` from the command line."""
    from kb.review import ReviewDB, database_url
    from kb.service import KnowledgeBase

    huey = make_huey(settings)         # a wrong KB_QUEUE_URL fails here, before the model loads
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log = logging.getLogger("kb.worker")
    db = ReviewDB(database_url(settings.data_dir))
    kb = KnowledgeBase(settings)
    kb.store.embedding     # noqa: B018 - load the model now, not in the first job
    runner = Runner(kb, db)
    task = register(huey, lambda: runner)
    runner.enqueue = task
    waiting = {t.args[0] for t in huey.pending() if getattr(t, "name", None) == TASK and t.args}
    for job_id in runner.recover(waiting):
        log.info("re-queueing job %s", job_id)
        task(job_id)
    _check_store(kb, runner, log)

    @huey.periodic_task(crontab(), name="kb.suggest_if_stale")
    def suggest_if_stale() -> None:
        # documents ingested from the CLI (`kb ingest`) reach the criteria this way
        job = runner.suggest_if_stale()
        if job is not None:
            log.info("evidence suggestions out of date: job %s", job.id)
            task(job.id)

    suggest_if_stale.call_local()
    log.info("worker for %s (queue %s), %d worker thread(s)", settings.data_dir,
             queue_url() or Path(settings.data_dir) / QUEUE_FILE, workers)
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                    initial_delay=0.1, backoff=1.15, max_delay=1.0)
    try:
        consumer.run()
    finally:
        kb.store.close()
        db.dispose()
