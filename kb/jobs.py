"""Background jobs: their records (the `jobs` table of the review database) and the work itself.

The web app writes a record and puts the job's id on the queue (kb/queue.py); the worker process
(`kb worker`) takes the id, runs the job here and writes its progress to the record after every
file or criterion, so any web process polls the same row. The record is the truth about a job;
the queue only says which job to run next.

- Cancel: a flag on the record. A queued job is cancelled on the spot (the worker, when it takes
  the id, finds it cancelled and does nothing); a running one stops before its next file or
  criterion. Files stored by then stay stored and are reported as stored.
- Crash (kill -9, power cut): the queue already removed the id it handed out, so the job would be
  lost; at its next start the worker finds records still `running` under a process that no longer
  exists (`recover`), settles the file that was in progress (stored → done; else tried once more,
  then failed) and puts the job back on the queue to finish the rest.
- An ingest job that changed the store enqueues a follow-up `suggest` job: evidence suggestions
  for every criterion of every open assessment, so that viewing a criterion never computes them.

Every message is Thai and names the file or criterion it is about.
"""
from __future__ import annotations

import os
import socket
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import select

from kb.review import JobRecord, NotFound, ReviewDB, Upload, _iso, now

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")
QUEUED_MESSAGE = "รอคิวประมวลผล"
# A queued record the queue does not hold (the id was taken by a worker that died before it
# marked the job running) is enqueued again at worker start, once it is older than this.
ORPHAN_AFTER = timedelta(seconds=30)
# text-layer pages are reported to the job's message at most this often (seconds)
PAGE_MESSAGE_EVERY = 1.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def suggest_after_ingest() -> bool:
    """KB_SUGGEST_AFTER_INGEST=0 turns off the suggestion jobs the worker starts by itself
    (after an ingest job, and when the store moved past the suggestions): then suggestions are
    computed only by the refresh and suggest-all actions."""
    return os.environ.get("KB_SUGGEST_AFTER_INGEST", "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class Job:
    """A snapshot of one job record (what polling returns)."""
    id: str
    kind: str                  # ingest | suggest
    total: int                 # units of work (files, criteria)
    user: str | None = None
    state: str = "queued"      # queued | running | done | failed | cancelled
    done: int = 0
    current: str = ""          # what is being worked on now
    message: str = ""          # a line for people, in Thai
    errors: list[str] = field(default_factory=list)
    result: dict = field(default_factory=dict)
    created_at: str | None = None
    finished_at: str | None = None
    cancel_requested: bool = False
    follow_up: str | None = None     # the suggest job an ingest job enqueued
    params: dict = field(default_factory=dict)
    user_id: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "state": self.state, "total": self.total,
                "done": self.done, "progress": round(self.done / self.total, 4) if self.total else 1.0,
                "current": self.current, "message": self.message, "errors": list(self.errors),
                "result": dict(self.result), "user": self.user, "created_at": self.created_at,
                "finished_at": self.finished_at, "cancel_requested": self.cancel_requested,
                "follow_up": self.follow_up}


def _job(rec: JobRecord) -> Job:
    return Job(id=rec.id, kind=rec.kind, total=rec.total, user=rec.user_name, state=rec.state,
               done=rec.done, current=rec.current or "", message=rec.message or "",
               errors=list(rec.errors or []), result=dict(rec.result or {}),
               created_at=_iso(rec.created_at), finished_at=_iso(rec.finished_at),
               cancel_requested=bool(rec.cancel_requested), follow_up=(rec.params or {}).get("follow_up"),
               params=dict(rec.params or {}), user_id=rec.user_id)


class JobStore:
    """The job records, one transaction per call."""

    def __init__(self, db: ReviewDB):
        self.db = db

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    def create(self, kind: str, total: int, params: dict, user: dict | None = None,
               job_id: str | None = None) -> Job:
        with self.db.Session.begin() as s:
            rec = JobRecord(id=job_id or self.new_id(), kind=kind, total=total, params=params,
                            user_id=user["id"] if user else None, user_name=user["name"] if user else None,
                            message=QUEUED_MESSAGE, errors=[], result={})
            s.add(rec)
            s.flush()
            return _job(rec)

    def get(self, job_id: str) -> Job | None:
        with self.db.Session() as s:
            rec = s.get(JobRecord, job_id)
            return _job(rec) if rec else None

    def save(self, job: Job, **extra) -> None:
        """Write a job's progress (the fields a worker changes)."""
        with self.db.Session.begin() as s:
            rec = s.get(JobRecord, job.id)
            if rec is None:
                return
            rec.state, rec.done, rec.total = job.state, job.done, job.total
            rec.current, rec.message = job.current, job.message
            rec.errors, rec.result = list(job.errors), dict(job.result)
            rec.params = dict(job.params)
            if job.state in FINISHED:
                rec.finished_at = now()
            for k, v in extra.items():
                setattr(rec, k, v)

    def claim(self, job_id: str, worker: str) -> Job | None:
        """Mark a queued job running for this worker; None if it is not there to run (cancelled
        while queued, already finished, or unknown)."""
        with self.db.Session.begin() as s:
            # a row lock on PostgreSQL: two workers handed the same id never both run it
            rec = s.get(JobRecord, job_id, with_for_update=True)
            if rec is None or rec.state != "queued":
                return None
            if rec.cancel_requested:         # cancelled between its enqueueing and now
                rec.state, rec.finished_at = "cancelled", now()
                return None
            rec.state, rec.worker, rec.started_at = "running", worker, now()
            return _job(rec)

    def cancel_requested(self, job_id: str) -> bool:
        with self.db.Session() as s:
            rec = s.get(JobRecord, job_id)
            return rec is None or bool(rec.cancel_requested)

    def cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop. A queued one is cancelled at once (with its queued uploads); a
        running one stops before its next unit; a finished one is left as it is."""
        with self.db.Session.begin() as s:
            rec = s.get(JobRecord, job_id)
            if rec is None:
                return None
            if rec.state in ACTIVE:
                rec.cancel_requested = True
            if rec.state == "queued":
                rec.state, rec.finished_at, rec.current = "cancelled", now(), ""
                n = 0
                for u in s.scalars(select(Upload).where(Upload.job_id == job_id, Upload.state == "queued")):
                    u.state, u.error = "cancelled", f"{u.file_name}: ยกเลิกการนำเข้าก่อนเริ่มทำงาน"
                    n += 1
                rec.message = "ยกเลิกงานแล้ว ก่อนเริ่มทำงาน" + (f" (ไม่ได้นำเข้า {n} ไฟล์)" if n else "")
            elif rec.state == "running":
                rec.message = "กำลังยกเลิก: จะหยุดเมื่อทำรายการปัจจุบันเสร็จ"
            return _job(rec)

    def records(self, states: tuple[str, ...]) -> list[JobRecord]:
        with self.db.Session() as s:
            return list(s.scalars(select(JobRecord).where(JobRecord.state.in_(states))
                                  .order_by(JobRecord.created_at)))


def _alive(worker: str) -> bool:
    """Whether the worker process named host:pid still runs (on another host: assumed so)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True
    if not pid.isdigit() or int(pid) == os.getpid():
        return False           # our own pid at start-up: a previous incarnation
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Runner:
    """Runs jobs with one KnowledgeBase and one ReviewDB (the worker's, or in tests' immediate
    mode the web app's). `enqueue(job_id)` puts a job on the queue (for follow-up jobs)."""

    def __init__(self, kb, db: ReviewDB, enqueue: Callable[[str], object] | None = None):
        self.kb, self.db = kb, db
        self.jobs = JobStore(db)
        self.enqueue = enqueue

    # --- running -----------------------------------------------------------------------------

    def run(self, job_id: str) -> None:
        job = self.jobs.claim(job_id, worker_id())
        if job is None:
            return
        try:
            if job.kind == "ingest":
                self._ingest(job)
            elif job.kind == "suggest":
                self._suggest(job)
            else:
                raise ValueError(f"unknown job kind {job.kind}")
        except Exception as exc:  # a job must always end in a state a poller can see
            traceback.print_exc()
            job.errors.append(f"{type(exc).__name__}: {exc}")
            job.state, job.current = "failed", ""
            job.message = "งานล้มเหลว: " + str(exc)
            if job.kind == "ingest":     # its unfinished files will not be, by this run
                for r in self._uploads(job).values():
                    if r["state"] in ACTIVE:
                        self.db.update_upload(r["id"], state="failed",
                                              error=f"{r['file_name']}: งานนำเข้าล้มเหลว ({exc})")
            self.jobs.save(job)

    def _uploads(self, job: Job) -> dict[int, dict]:
        with self.db.Session() as s:
            return {u.id: u.to_dict() for u in s.scalars(select(Upload).where(Upload.job_id == job.id))}

    def _tally(self, job: Job, rows: dict[int, dict]) -> None:
        """Progress, results and errors from the upload rows: right after a resume too."""
        mine = [rows[i] for i in job.params.get("uploads", []) if i in rows]
        job.done = sum(r["state"] in FINISHED for r in mine) + \
            sum(1 for i in job.params.get("uploads", []) if i not in rows)   # forgotten (deleted)
        job.result = {r["file_name"]: r["chunks"] for r in mine if r["state"] == "done"}
        job.errors = [r["error"] for r in mine if r["state"] == "failed" and r["error"]]

    def _ingest(self, job: Job) -> None:
        rows = self._uploads(job)
        self._tally(job, rows)
        cancelled = False
        for uid in job.params.get("uploads", []):
            row = rows.get(uid)
            if row is None or row["state"] in FINISHED:
                continue            # deleted meanwhile, or finished before an interruption
            if self.jobs.cancel_requested(job.id):
                cancelled = True
                break
            job.current = row["file_name"]
            job.message = f"กำลังอ่านเอกสารและเตรียมให้ค้นหาได้: {row['file_name']}"
            self.jobs.save(job)
            self.db.update_upload(uid, state="running")
            summary = self.kb.ingest([self.kb.store.file_of(row["path"])], progress=False, refresh=False,
                                     on_page=self._page_progress(job, row["file_name"]))
            if summary.errors:
                row.update(state="failed", error=summary.errors[0])
                self.db.update_upload(uid, state="failed", error=summary.errors[0])
            else:
                doc = self.kb.store.document(row["path"])
                row.update(state="done", error="", chunks=doc["n_chunks"] if doc is not None else summary.chunks)
                self.db.update_upload(uid, state="done", chunks=row["chunks"], error="")
            self._tally(job, rows)
            self.jobs.save(job)
        if cancelled:
            left = [r for i, r in rows.items() if r["state"] in ACTIVE]
            for r in left:
                r.update(state="cancelled")
                self.db.update_upload(r["id"], state="cancelled",
                                      error=f"{r['file_name']}: ยกเลิกการนำเข้าก่อนถึงไฟล์นี้")
            self._tally(job, rows)
        job.current = ""
        job.message = "กำลังปรับปรุงดัชนีค้นหา"
        self.jobs.save(job)
        self.kb.refresh()            # lexical indexes and document scores, once per job
        stored = len(job.result)
        if cancelled:
            job.state = "cancelled"
            job.message = (f"ยกเลิกงานแล้ว: นำเข้าไว้ {stored} ไฟล์ ไม่ได้นำเข้า {len(left)} ไฟล์"
                           + (f" (ผิดพลาด {len(job.errors)})" if job.errors else ""))
        else:
            job.state = "done"       # per-file failures are in job.errors; the job itself ran
            job.message = f"นำเข้าเสร็จ {stored} จาก {job.total} ไฟล์" + \
                (f" (ผิดพลาด {len(job.errors)})" if job.errors else "")
        follow = self._follow_up(job)
        if follow:
            job.params["follow_up"] = follow.id
            job.follow_up = follow.id
            job.message += " · กำลังปรับปรุงหลักฐานที่แนะนำของทุกเกณฑ์"
        self.jobs.save(job)
        if follow:
            self.enqueue(follow.id)

    def _page_progress(self, job: Job, file_name: str) -> Callable[[object, int, int, bool], None]:
        """Writes "reading page n of N" to the job while a PDF or image is read: an OCR'd page
        takes seconds, so each one is written; text-layer pages go by in milliseconds, so they
        are written at most every PAGE_MESSAGE_EVERY seconds (and the last one)."""
        last = [0.0]

        def on_page(_path, page: int, pages: int, by_ocr: bool) -> None:
            clock = time.monotonic()
            if not by_ocr and page < pages and clock - last[0] < PAGE_MESSAGE_EVERY:
                return
            last[0] = clock
            job.message = f"กำลังอ่าน {file_name} หน้า {page} จาก {pages}" + (" (OCR)" if by_ocr else "")
            self.jobs.save(job)
        return on_page

    def open_assessments(self) -> list[int]:
        """Assessments still being worked on: those with a criterion not yet approved."""
        n = len(self.kb.catalogue.criteria())
        out = []
        for a in self.db.assessments():
            approved = sum(o.get("status") == "approved" for o in self.db.overview(a["id"]).values())
            if approved < n:
                out.append(a["id"])
        return out

    def stale_assessments(self) -> list[int]:
        """Open assessments with a criterion whose suggestions predate the store."""
        from sqlalchemy import func

        from kb.review import CriterionState
        generation, n = self.kb.store.generation(), len(self.kb.catalogue.criteria())
        out = []
        with self.db.Session() as s:
            for aid in self.open_assessments():
                current = s.scalar(select(func.count()).select_from(CriterionState).where(
                    CriterionState.assessment_id == aid, CriterionState.suggested_generation == generation))
                if current < n:
                    out.append(aid)
        return out

    def suggest_if_stale(self) -> Job | None:
        """A suggest job for the assessments whose suggestions are out of date, unless one is
        queued or running already, or one was made for this state of the store already (a job
        someone cancelled is not started again behind their back), or KB_SUGGEST_AFTER_INGEST=0."""
        if not suggest_after_ingest():
            return None
        generation = self.kb.store.generation()
        with self.db.Session() as s:
            last = s.scalars(select(JobRecord).where(JobRecord.kind == "suggest")
                             .order_by(JobRecord.created_at.desc()).limit(1)).first()
            if last is not None and (last.state in ACTIVE or (last.params or {}).get("generation") == generation):
                return None
        aids = self.stale_assessments()
        if not aids:
            return None
        codes = [c.code for c in self.kb.catalogue.criteria()]
        return self.jobs.create("suggest", len(aids) * len(codes),
                                {"assessments": aids, "codes": codes, "generation": generation})

    def _follow_up(self, job: Job) -> Job | None:
        if self.enqueue is None or not suggest_after_ingest():
            return None
        if self.kb.store.generation() == job.params.get("generation"):
            return None              # nothing stored changed: the suggestions are current
        aids = self.open_assessments()
        if not aids:
            return None
        codes = [c.code for c in self.kb.catalogue.criteria()]
        user = {"id": job.user_id, "name": job.user} if job.user_id else None
        return self.jobs.create("suggest", len(aids) * len(codes),
                                {"assessments": aids, "codes": codes, "generation": self.kb.store.generation()}, user)

    def _suggest(self, job: Job) -> None:
        from kb import workflow
        aids, codes = job.params.get("assessments", []), job.params.get("codes", [])
        job.done = 0
        for aid in aids:
            for code in codes:
                if self.jobs.cancel_requested(job.id):
                    job.state, job.current = "cancelled", ""
                    job.message = f"ยกเลิกงานแล้ว: ค้นหาหลักฐานไป {job.done} จาก {job.total} เกณฑ์"
                    self.jobs.save(job)
                    return
                job.current = code
                job.message = f"กำลังค้นหาหลักฐานของเกณฑ์ {code}"
                try:
                    workflow.suggest(self.kb, self.db, aid, code, job.user_id)
                except NotFound:     # the assessment was removed meanwhile
                    pass
                job.done += 1
                self.jobs.save(job)
        job.state, job.current = "done", ""
        job.message = f"ค้นหาหลักฐานครบ {len(codes)} เกณฑ์" + \
            (f" ใน {len(aids)} แบบประเมิน" if len(aids) > 1 else "")
        self.jobs.save(job)

    # --- after a crash -----------------------------------------------------------------------

    def recover(self, queued_ids: set[str]) -> list[str]:
        """At worker start: set right the jobs a dead worker left `running`, and find queued
        jobs the queue lost. Returns the ids to put (back) on the queue, oldest first."""
        from kb.library import sha256_of
        again = []
        for rec in self.jobs.records(("running",)):
            if _alive(rec.worker):
                continue
            job = _job(rec)
            if job.kind == "ingest":
                retried = dict(job.params.get("retried", {}))
                for r in self._uploads(job).values():
                    if r["state"] != "running":
                        continue
                    doc = self.kb.store.document(r["path"])
                    path = self.kb.store.file_of(r["path"])
                    if doc is not None and path.exists() and doc["sha256"] == sha256_of(path):
                        self.db.update_upload(r["id"], state="done", chunks=doc["n_chunks"], error="")
                    elif retried.get(str(r["id"])):
                        self.db.update_upload(r["id"], state="failed", error=(
                            f"{r['file_name']}: ตัวประมวลผลงานหยุดทำงานกลางคันระหว่างนำเข้าไฟล์นี้สองครั้ง "
                            "(ไฟล์อาจใหญ่หรือซับซ้อนเกินไป) จึงไม่ได้นำเข้า"))
                    else:
                        retried[str(r["id"])] = 1
                        self.db.update_upload(r["id"], state="queued")
                job.params["retried"] = retried
                self._tally(job, self._uploads(job))
            job.state, job.current = "queued", ""
            job.message = "ตัวประมวลผลงานหยุดทำงานกลางคัน ระบบจะทำงานนี้ต่อจากรายการที่ค้างอยู่"
            self.jobs.save(job, worker="")
            again.append(job.id)
        cutoff = now() - ORPHAN_AFTER
        for rec in self.jobs.records(("queued",)):
            created = rec.created_at if rec.created_at.tzinfo else rec.created_at.replace(tzinfo=cutoff.tzinfo)
            if rec.id not in queued_ids and rec.id not in again and created < cutoff:
                again.append(rec.id)
        return again
