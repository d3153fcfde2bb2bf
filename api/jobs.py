"""Jobs as the routes see them: look one up, cancel one, start a bulk suggestion.

The records and the work are kb/jobs.py, the queue and the worker kb/queue.py; this module only
adds what HTTP needs (Thai 404/403/409 answers, who may cancel what).
"""
from __future__ import annotations

from fastapi import HTTPException

from kb import auth
from kb.jobs import Job

# who may cancel a job: whoever may start one of its kind
CANCEL_PERMISSION = {"ingest": "document.upload", "suggest": "evidence.suggest"}


def get(ctx, job_id: str) -> Job:
    job = ctx.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"ไม่พบงานรหัส {job_id}")
    return job


def cancel(ctx, job_id: str, user: dict) -> Job:
    """Queued: cancelled now. Running: stops before its next file (or criterion); what it
    stored stays stored. Finished: 409, nothing to cancel."""
    job = get(ctx, job_id)
    action = CANCEL_PERMISSION.get(job.kind, "document.upload")
    if not auth.can(user["role"], action):
        raise HTTPException(403, f"บทบาท {auth.ROLE_TH.get(user['role'], user['role'])} ยกเลิกงานนี้ไม่ได้ "
                                 f"(ต้องเป็น{auth.ROLE_TH[auth.PERMISSIONS[action]]}ขึ้นไป)")
    if job.finished:
        raise HTTPException(409, f"งานรหัส {job_id} สิ้นสุดแล้ว ({_STATE_TH[job.state]}) จึงยกเลิกไม่ได้")
    return ctx.jobs.cancel(job_id)


_STATE_TH = {"queued": "รอคิว", "running": "กำลังทำงาน", "done": "เสร็จแล้ว", "failed": "ล้มเหลว",
             "cancelled": "ยกเลิกแล้ว"}


def start_suggest(ctx, aid: int, codes: list[str], user: dict) -> Job:
    """Evidence suggestions for these criteria of one assessment, as a worker job."""
    return ctx.jobs.submit("suggest", len(codes), {"assessments": [aid], "codes": list(codes)}, user)
