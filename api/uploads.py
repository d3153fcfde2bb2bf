"""Document upload: type and size checks, saving under the data directory, ingestion as a job
(run by the worker process, `kb worker`; see kb/jobs.py).

Uploaded files are kept in the library (<data dir>/uploads, kb/library.py), named by their file
name: re-uploading a file of the same name is a new version of that document (of one ingested
from the command line too), the file it replaces kept beside it.

Each file of an upload is accepted or refused on its own, with a Thai reason naming it: one
empty file does not cost the others, and a refused file writes nothing to the upload folder (so
it never replaces the version already stored). Of more files than the limit, the first ones are
taken and the rest refused by name: the user sees exactly which to send again.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import AsyncIterator

from fastapi import Depends, HTTPException, Request, UploadFile
from starlette.datastructures import UploadFile as ParsedFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.context import AppContext, Limits
from kb.jobs import Job
from kb.library import Library, safe_name
from api.security import require

PATHS = ("/api/documents", "/documents/upload")      # the two upload routes (REST, web)
may_upload = require("document.upload")


def allowed_types() -> set[str]:
    from ingest.loaders import SUPPORTED
    return set(SUPPORTED)


def human_size(n: float) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f}".removesuffix(".0") + " MB"
    return f"{max(n / 1024, 1):.0f} KB" if n else "0 ไบต์"


def body_cap(limits: Limits) -> int:
    """The most an upload request may carry: a full batch of full-size files, plus room for
    the multipart headers (and a few files past the count, refused by name)."""
    return limits.upload_bytes * limits.files_per_upload + 1024 * 1024


def limits_line(limits: Limits) -> str:
    return (f"ครั้งละไม่เกิน {limits.files_per_upload} ไฟล์ · ไฟล์ละไม่เกิน {human_size(limits.upload_bytes)} · "
            f"รองรับ {' '.join(sorted(allowed_types()))}")


async def received_files(request: Request, user: dict = Depends(may_upload)) -> AsyncIterator[list[UploadFile]]:
    """The uploaded files, parsed only after `may_upload` passed. Declared as `File(...)`
    parameters, FastAPI would parse the body (spooling each part over 1 MB to a temporary
    file on disk) before any dependency runs, i.e. before an anonymous request gets its 401."""
    try:
        form = await request.form()
    except StarletteHTTPException as exc:
        if exc.status_code != 400:           # e.g. the 413 of the body cap, already in Thai
            raise
        # Starlette's own message is English and names its parser's limits
        raise HTTPException(400, "อ่านข้อมูลที่อัปโหลดไม่ได้ (รูปแบบ multipart ไม่ถูกต้อง หรือมีไฟล์มากเกินไป) "
                                 "กรุณาเลือกไฟล์แล้วอัปโหลดใหม่") from None
    try:
        yield [f for f in form.getlist("files") if isinstance(f, ParsedFile)]
    finally:
        await form.close()


def _size(upload: UploadFile) -> int:
    # measured on the received file itself, whatever the client declared
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


def refusal(upload: UploadFile, name: str, position: int, taken: set[str], limits: Limits) -> str | None:
    """Why this file is not accepted (a Thai sentence naming it), or None."""
    if position >= limits.files_per_upload:
        return (f"ไฟล์ {name}: ไม่ได้รับไว้ เพราะอัปโหลดได้ครั้งละไม่เกิน {limits.files_per_upload} ไฟล์ "
                f"(ไฟล์นี้เป็นลำดับที่ {position + 1}) กรุณาอัปโหลดไฟล์นี้อีกครั้งในรอบถัดไป")
    ext = Path(name).suffix.lower()
    if ext not in allowed_types():
        return (f"ไฟล์ {name}: ไม่รองรับชนิดไฟล์ {ext or 'ที่ไม่มีนามสกุล'} "
                f"(รองรับ {' '.join(sorted(allowed_types()))})")
    if name in taken:
        return f"ไฟล์ {name}: ชื่อซ้ำกับไฟล์ก่อนหน้าในการอัปโหลดครั้งนี้ จึงรับไว้เฉพาะไฟล์แรก"
    size = _size(upload)
    if size == 0:
        return f"ไฟล์ {name}: เป็นไฟล์ว่าง (0 ไบต์) ไม่มีเนื้อหาให้นำเข้า"
    if size > limits.upload_bytes:
        return f"ไฟล์ {name}: มีขนาด {human_size(size)} เกินขีดจำกัด {human_size(limits.upload_bytes)} ต่อไฟล์"
    return None


def save(uploads: list[UploadFile], ctx: AppContext, user: dict) -> list[dict]:
    """One entry per file, in the order sent: {"file_name", "accepted": True, "size"} for a
    file now in the upload folder, {"file_name", "accepted": False, "reason"} for one refused.
    No server path: the entries go back to the client as they are."""
    if not uploads:
        raise HTTPException(422, "ไม่ได้เลือกไฟล์ กรุณาเลือกไฟล์ที่จะอัปโหลด")
    ctx.upload_dir.mkdir(parents=True, exist_ok=True)
    out, taken = [], set()
    for position, upload in enumerate(uploads):
        name = safe_name(upload.filename or "")
        reason = refusal(upload, name, position, taken, ctx.limits)
        if reason is None:
            try:
                Library(ctx.upload_dir).put(upload.file, name)
            except OSError:
                # e.g. a full disk; the OS message would name the server's folder
                reason = f"ไฟล์ {name}: บันทึกลงเครื่องแม่ข่ายไม่สำเร็จ (พื้นที่อาจเต็ม) กรุณาแจ้งผู้ดูแลระบบ"
        if reason is None:
            taken.add(name)
            out.append({"file_name": name, "accepted": True, "size": _size(upload)})
        else:
            out.append({"file_name": name, "accepted": False, "reason": reason})
    return out


def start_ingest(ctx: AppContext, saved: list[dict], user: dict) -> Job | None:
    """Queue one ingestion job for the accepted files (None if there are none); each file's
    outcome is also recorded in the uploads table, so errors stay on the documents page after
    the job is forgotten. The worker runs it; this returns the job as queued."""
    saved = [s for s in saved if s["accepted"]]
    if not saved:
        return None
    job_id = ctx.jobs.new_id()
    # recorded by the store's key (relative to the data directory), as the document will be
    rows = [ctx.db.add_upload(s["file_name"], ctx.kb.store.key_of((ctx.upload_dir / s["file_name"]).resolve()), s["size"],
                              user["id"], job_id) for s in saved]
    # the generation tells the job whether it changed the store (then suggestions follow)
    params = {"uploads": [r["id"] for r in rows], "generation": ctx.kb.store.generation()}
    return ctx.jobs.submit("ingest", len(rows), params, user=user, job_id=job_id)


def documents(ctx: AppContext) -> list[dict]:
    """Stored documents (with chunk counts) and uploads that did not (yet) make it into the
    store (queued, running, or failed with their error), one list by file name."""
    uploads = ctx.db.uploads()                      # newest first
    latest_upload, versions = {}, {}
    for u in uploads:
        # rows written before keys were relative hold absolute paths: compared as keys
        key = ctx.kb.store.key_of(u["path"])
        latest_upload.setdefault(key, u)
        if u["state"] == "done":
            # each upload that was stored is a version of the document: who sent it, and when
            versions.setdefault(key, []).append({"by": u["uploaded_by"], "at": u["uploaded_at"],
                                                 "size": u["size"]})
    out, stored = [], set()
    for row in ctx.kb.store.documents():
        up = latest_upload.get(row["path"])
        stored.add(row["path"])
        state, error = "done", ""
        if up and up["state"] in ("queued", "running", "failed"):
            # a newer upload of the same file is pending or failed: the old version is still served
            state, error = up["state"], up["error"]
        out.append({"id": row["doc_id"], "file_name": row["file_name"], "path": row["path"],
                    "title": row["title"], "fiscal_year": row["fiscal_year"], "doc_type": row["doc_type"],
                    "chunks": row["n_chunks"], "ingested_at": row["ingested_at"], "state": state,
                    "error": error, "uploaded_by": up["uploaded_by"] if up else None,
                    "job_id": up["job_id"] if up else None,
                    "versions": versions.get(row["path"], [])[::-1]})     # oldest first
    for path, up in latest_upload.items():
        if path not in stored:
            out.append({"id": f"upload-{up['id']}", "file_name": up["file_name"], "path": path,
                        "title": "", "fiscal_year": None, "doc_type": Path(path).suffix.lstrip("."),
                        "chunks": up["chunks"], "ingested_at": None, "state": up["state"],
                        "error": up["error"], "uploaded_by": up["uploaded_by"], "job_id": up["job_id"],
                        "versions": []})
    return sorted(out, key=lambda d: d["file_name"].lower())


def delete(ctx: AppContext, doc_id: str, user: dict) -> dict:
    """Remove a document from every index (and its uploaded file, if it came through the web)."""
    doc = next((d for d in documents(ctx) if d["id"] == doc_id), None)
    if doc is None:
        raise HTTPException(404, f"ไม่พบเอกสารรหัส {doc_id}")
    if doc["state"] in ("queued", "running"):
        raise HTTPException(409, f"เอกสาร {doc['file_name']} กำลังถูกนำเข้า รอให้เสร็จก่อนจึงลบได้")
    if not doc_id.startswith("upload-"):
        ctx.kb.remove(doc["path"])
    path = ctx.kb.store.file_of(doc["path"])
    library = Library(ctx.upload_dir)
    if library.holds(path):
        library.remove(library.name_of(path))
    ctx.db.forget_uploads([doc["path"], str(path)], user["id"])
    return {"deleted": doc["file_name"], "id": doc_id}
