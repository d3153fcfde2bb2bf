"""Document upload: type and size checks, saving under the data directory, ingestion as a job.

Uploaded files are kept (in <data dir>/uploads) because the store records documents by path:
re-uploading a file of the same name replaces its earlier version, as re-ingesting does.
"""
from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

from fastapi import HTTPException, UploadFile

from api.context import AppContext
from api.jobs import Job

CHUNK = 1 << 20


def allowed_types() -> set[str]:
    from ingest.loaders import SUPPORTED
    return set(SUPPORTED)


def safe_name(name: str) -> str:
    """The file's own name, without folders or characters a file system or shell dislikes;
    Thai letters (and their combining marks) are kept."""
    name = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name).strip()
    name = re.sub(r"[^\w\u0E00-\u0E7F.\- ()]+", "_", name).strip(" .")
    return name[:200] or "upload"


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


def check_file(upload: UploadFile, ctx: AppContext) -> str:
    name = safe_name(upload.filename or "")
    ext = Path(name).suffix.lower()
    types = allowed_types()
    if ext not in types:
        raise HTTPException(415, f"ไฟล์ {name}: ไม่รองรับชนิดไฟล์ '{ext or 'ไม่มีนามสกุล'}' "
                                 f"(รองรับ {' '.join(sorted(types))})")
    return name


def save(uploads: list[UploadFile], ctx: AppContext, user: dict) -> list[dict]:
    """Check every file first (so one bad file rejects the batch before anything is written),
    then copy each to the upload folder, counting bytes: a client can lie in Content-Length."""
    if not uploads:
        raise HTTPException(422, "ไม่ได้เลือกไฟล์")
    if len(uploads) > ctx.limits.files_per_upload:
        raise HTTPException(413, f"อัปโหลดได้ครั้งละไม่เกิน {ctx.limits.files_per_upload} ไฟล์")
    names = [check_file(u, ctx) for u in uploads]
    ctx.upload_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for upload, name in zip(uploads, names):
        dest = ctx.upload_dir / name
        tmp = dest.with_name(f".{name}.part")
        size = 0
        with open(tmp, "wb") as out:
            while block := upload.file.read(CHUNK):
                size += len(block)
                if size > ctx.limits.upload_bytes:
                    out.close()
                    tmp.unlink(missing_ok=True)
                    raise HTTPException(413, f"ไฟล์ {name} ใหญ่เกินกำหนด (ไม่เกิน {_mb(ctx.limits.upload_bytes)})")
                out.write(block)
        if size == 0:
            tmp.unlink(missing_ok=True)
            raise HTTPException(422, f"ไฟล์ {name} ว่างเปล่า")
        shutil.move(tmp, dest)       # only a complete file ever appears under its real name
        saved.append({"file_name": name, "path": str(dest.resolve()), "size": size})
    return saved


def start_ingest(ctx: AppContext, saved: list[dict], user: dict) -> Job:
    """Queue one ingestion job for the saved files; each file's outcome is also recorded in the
    uploads table, so errors stay on the documents page after the job is forgotten."""
    job_id = ctx.jobs.new_id()
    rows = [ctx.db.add_upload(s["file_name"], s["path"], s["size"], user["id"], job_id) for s in saved]

    def work(job: Job) -> None:
        for row in rows:
            job.current = row["file_name"]
            job.message = f"กำลังอ่าน ตัดข้อความ และฝังเวกเตอร์: {row['file_name']}"
            ctx.db.update_upload(row["id"], state="running")
            summary = ctx.kb.ingest([row["path"]], progress=False)
            if summary.errors:
                job.errors.extend(summary.errors)
                ctx.db.update_upload(row["id"], state="failed", error=summary.errors[0])
            else:
                doc = ctx.kb.store.document(row["path"])
                chunks = doc["n_chunks"] if doc is not None else summary.chunks
                job.result[row["file_name"]] = chunks
                ctx.db.update_upload(row["id"], state="done", chunks=chunks, error="")
            job.done += 1
        ok = job.total - len(job.errors)
        job.message = f"นำเข้าเสร็จ {ok} จาก {job.total} ไฟล์" + (f" (ผิดพลาด {len(job.errors)})" if job.errors else "")

    return ctx.jobs.submit("ingest", len(saved), work, user=user["name"], job_id=job_id)


def documents(ctx: AppContext) -> list[dict]:
    """Stored documents (with chunk counts) and uploads that did not (yet) make it into the
    store (queued, running, or failed with their error), one list by file name."""
    uploads = ctx.db.uploads()                      # newest first
    latest_upload = {}
    for u in uploads:
        latest_upload.setdefault(u["path"], u)
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
                    "job_id": up["job_id"] if up else None})
    for path, up in latest_upload.items():
        if path not in stored:
            out.append({"id": f"upload-{up['id']}", "file_name": up["file_name"], "path": path,
                        "title": "", "fiscal_year": None, "doc_type": Path(path).suffix.lstrip("."),
                        "chunks": up["chunks"], "ingested_at": None, "state": up["state"],
                        "error": up["error"], "uploaded_by": up["uploaded_by"], "job_id": up["job_id"]})
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
    path = Path(doc["path"])
    if path.parent == ctx.upload_dir.resolve() and path.exists():
        path.unlink()
    ctx.db.forget_uploads(doc["path"], user["id"])
    return {"deleted": doc["file_name"], "id": doc_id}
