"""The JSON API under /api: a thin layer over kb.workflow, kb.review, kb.auth and kb.export.

Errors come back as {"detail": "..."} with a Thai message; a stale draft edit is 409 with the
current version and the text that was sent (nothing is lost).
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import jobs, uploads
from api.security import client_address, ctx, current_user, require
from kb import auth, export, workflow
from kb.retrieve import Filters

router = APIRouter(prefix="/api")


# --- request bodies -----------------------------------------------------------------------------

class Credentials(BaseModel):
    name: str
    password: str
    label: str = Field("", description="What the token is for (shown in the audit log)")
    days: float | None = Field(None, description="The token's life in days (default KB_TOKEN_DAYS, 90; "
                                                 "at most KB_TOKEN_MAX_DAYS, 365)")


class NewToken(BaseModel):
    label: str = ""
    days: float | None = Field(None, description="The token's life in days (default KB_TOKEN_DAYS)")


class NewPassword(BaseModel):
    password: str


class OwnPassword(BaseModel):
    current_password: str
    new_password: str


class NewUser(BaseModel):
    name: str
    password: str
    role: Literal["viewer", "editor", "reviewer", "admin"]


class NewAssessment(BaseModel):
    agency: str
    fiscal_year: int = Field(description="ปีงบประมาณ พ.ศ. เช่น 2567")


class Decision(BaseModel):
    note: str = ""


class Generate(BaseModel):
    drafter: Literal["extractive", "llm"] = "extractive"


class Edit(BaseModel):
    text: str
    base_version: int | None = Field(description="The version the edit started from (0 or null for none)")


class Approve(BaseModel):
    version: int = Field(description="The version the reviewer read and approves")
    note: str = ""
    confirmations: dict[int, str] = Field(
        default_factory=dict,
        description="Sentence index → the approver's reason for accepting a sentence the verifier flagged")


class TakeUp(BaseModel):
    version: int = Field(description="The newer draft (the latest version) to take up")


class Note(BaseModel):
    note: str = ""


class Owner(BaseModel):
    owner: str | None = None


class Assignment(BaseModel):
    """Only the fields sent change; null or "" clears one. `due`: "2568-03-15" (พ.ศ.) or a
    date picker's "2025-03-15"."""
    owner: str | None = None
    reviewer: str | None = None
    approver: str | None = None
    due: str | None = None


class BulkAssignment(Assignment):
    target: str = Field(description="หมวด (\"3\"), item (\"3.4\") or criterion; comma-separated for several")


class NewComment(BaseModel):
    text: str


class Suggest(BaseModel):
    codes: list[str] | None = Field(None, description="Criteria to refresh; all 94 when omitted")


# --- auth and users -------------------------------------------------------------------------------

@router.get("/health")
def health(request: Request):
    """Open to anyone (monitoring), so it says whether the service answers and how much it
    holds, never where its data lives or which servers it talks to."""
    stats = ctx(request).kb.store.stats()
    return {"ok": True, **{k: stats[k] for k in ("documents", "chunks", "embed_model")}}


@router.post("/tokens", status_code=201)
def create_token(body: Credentials, request: Request):
    """Exchange a name and password for an API token (send it as `Authorization: Bearer …`).
    It expires after `days` (default 90). Throttled: after repeated wrong passwords for one name,
    or from one address, 429 with Retry-After."""
    db = ctx(request).db
    user = _login(request, body.name, body.password)
    token = auth.issue_token(db, user["id"], "api", body.label, days=body.days)
    return {"token": token["token"], "id": token["id"], "expires_at": token["expires_at"], "user": user}


def _login(request: Request, name: str, password: str) -> dict:
    try:
        return auth.login(ctx(request).db, name, password, client_address(request))
    except auth.LoginRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        raise HTTPException(refused.status, str(refused), headers=headers) from None


@router.get("/tokens")
def my_tokens(request: Request, all: bool = False, user=Depends(require("read"))):
    """Your sessions and API tokens that still work (`all=true`: also revoked and expired ones)."""
    return auth.tokens(ctx(request).db, user_id=user["id"], everything=all)


@router.delete("/tokens/current", status_code=204)
def revoke_current(request: Request, user=Depends(require("read"))):
    """Revoke the token this request was made with (log out)."""
    raw = request.headers.get("authorization", "")[7:].strip() or request.cookies.get("kb_session", "")
    auth.revoke_token(ctx(request).db, raw)
    return Response(status_code=204)


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: int, request: Request, user=Depends(require("read"))):
    """Revoke one of your tokens (an administrator: anyone's)."""
    return auth.revoke_token_id(ctx(request).db, token_id, user)


@router.get("/me")
def me(user=Depends(require("read"))):
    return {k: user[k] for k in ("id", "name", "role")}


@router.post("/me/password")
def change_password(body: OwnPassword, request: Request, user=Depends(require("read"))):
    """Change your password: every session and token of yours is revoked, this one included."""
    u = auth.change_own_password(ctx(request).db, user["id"], body.current_password, body.new_password)
    return {"name": u["name"], "revoked": u["revoked"]}


@router.get("/users")
def list_users(request: Request, user=Depends(require("user.manage"))):
    return ctx(request).db.users()


@router.post("/users", status_code=201)
def add_user(body: NewUser, request: Request, user=Depends(require("user.manage"))):
    return auth.add_user(ctx(request).db, body.name, body.password, body.role, by=user["id"])


@router.post("/users/{name}/disable")
def disable_user(name: str, request: Request, user=Depends(require("user.manage"))):
    """Disable a user: they cannot log in, and their sessions and tokens stop working now."""
    return auth.set_active(ctx(request).db, name, False, by=user["id"])


@router.post("/users/{name}/enable")
def enable_user(name: str, request: Request, user=Depends(require("user.manage"))):
    """Enable a disabled user again (their old tokens stay revoked)."""
    return auth.set_active(ctx(request).db, name, True, by=user["id"])


@router.post("/users/{name}/password")
def reset_password(name: str, body: NewPassword, request: Request, user=Depends(require("user.manage"))):
    """Set a new password for a user; all their sessions and tokens are revoked."""
    return auth.set_password(ctx(request).db, name, body.password, by=user["id"])


@router.post("/users/{name}/unlock")
def unlock_user(name: str, request: Request, user=Depends(require("user.manage"))):
    """Lift a login lock on a user name (after too many wrong passwords)."""
    return {"name": name, "unlocked": auth.unlock(ctx(request).db, name, by=user["id"])}


@router.get("/users/{name}/tokens")
def user_tokens(name: str, request: Request, all: bool = False, user=Depends(require("user.manage"))):
    return auth.tokens(ctx(request).db, name=name, everything=all)


@router.post("/users/{name}/tokens", status_code=201)
def issue_user_token(name: str, request: Request, body: NewToken | None = None,
                     user=Depends(require("user.manage"))):
    """An API token for a user (e.g. an account a script runs as), made by an administrator."""
    db, body = ctx(request).db, body or NewToken()
    owner = next((u for u in db.users() if u["name"] == name.strip()), None)
    if owner is None:
        raise HTTPException(404, f"ไม่พบผู้ใช้ชื่อ {name}")
    if not owner["active"]:
        raise HTTPException(409, f"บัญชีผู้ใช้ {owner['name']} ถูกระงับการใช้งาน ออกรหัสเข้าใช้งานให้ไม่ได้")
    token = auth.issue_token(db, owner["id"], "api", body.label, days=body.days, by=user["id"])
    return {"token": token["token"], "id": token["id"], "expires_at": token["expires_at"], "user": owner}


@router.delete("/users/{name}/tokens")
def revoke_user_tokens(name: str, request: Request, user=Depends(require("user.manage"))):
    """Revoke every session and token of a user."""
    return {"name": name, "revoked": auth.revoke_all(ctx(request).db, name, by=user["id"])}


@router.delete("/users/{name}/tokens/{token_id}")
def revoke_user_token(name: str, token_id: int, request: Request, user=Depends(require("user.manage"))):
    return auth.revoke_token_id(ctx(request).db, token_id, user, owner=name)


# --- assessments and the criteria tree -----------------------------------------------------------

@router.get("/assessments")
def list_assessments(request: Request, user=Depends(require("read"))):
    return ctx(request).db.assessments()


@router.post("/assessments", status_code=201)
def create_assessment(body: NewAssessment, request: Request, user=Depends(require("assessment.create"))):
    return ctx(request).db.create_assessment(body.agency, body.fiscal_year, user["id"])


@router.get("/assessments/{aid}/criteria")
def criteria_tree(aid: int, request: Request, owner: str | None = None, status: str | None = None,
                  user=Depends(require("read"))):
    """หมวด → items → criteria with status, assignment, evidence counts and progress; `owner`
    ("-": nobody) and `status` keep only the matching criteria."""
    c = ctx(request)
    return workflow.filter_tree(workflow.criteria_tree(c.catalogue, c.db, aid), owner, status)


def _fields(body: Assignment) -> dict:
    return {f: getattr(body, f) for f in body.model_fields_set if f in ("owner", "reviewer", "approver", "due")}


@router.put("/assessments/{aid}/criteria/{code}/assignment")
def assign_one(aid: int, code: str, body: Assignment, request: Request, user=Depends(require("owner.assign"))):
    c = ctx(request)
    return workflow.assign(c.catalogue, c.db, aid, _code(request, code), user["id"], **_fields(body))[0]


@router.post("/assessments/{aid}/assignments")
def assign_bulk(aid: int, body: BulkAssignment, request: Request, user=Depends(require("assign.bulk"))):
    c = ctx(request)
    rows = workflow.assign(c.catalogue, c.db, aid, body.target, user["id"], **_fields(body))
    return {"assigned": len(rows), "criteria": rows}


@router.get("/assessments/{aid}/mywork")
def my_work(aid: int, request: Request, name: str | None = None, user=Depends(require("read"))):
    """The criteria the user (default: the caller) owns, reviews or approves; overdue first."""
    c = ctx(request)
    return {"user": name or user["name"], "criteria": workflow.my_work(c.catalogue, c.db, aid, name or user["name"])}


@router.get("/assessments/{aid}/progress")
def progress(aid: int, request: Request, user=Depends(require("read"))):
    """Counts by status per หมวด and per owner."""
    c = ctx(request)
    return workflow.progress_report(c.catalogue, c.db, aid)


def _code(request: Request, code: str) -> str:
    try:
        return ctx(request).catalogue.get(code).code
    except KeyError:
        raise HTTPException(404, f"ไม่พบเกณฑ์รหัส {code} ในแบบฟอร์ม") from None


@router.get("/assessments/{aid}/criteria/{code}")
def criterion(aid: int, code: str, request: Request, user=Depends(require("read"))):
    """The form's wording with the review state: evidence links, draft versions, comments."""
    c, code = ctx(request), _code(request, code)
    crit = c.catalogue.get(code)
    state = c.db.criterion(aid, code)
    workflow.mark_changed(c.kb, state["evidence"])
    return {"code": code, "item": {"code": crit.item.code, "title": crit.item.title},
            "wording": crit.wording, "subprompts": [sp.label for sp in crit.subprompts],
            **state, "suggestions_stale": workflow.suggestions_stale(c.kb, state)}


@router.get("/assessments/{aid}/criteria/{code}/evidence")
def evidence(aid: int, code: str, request: Request, response: Response, user=Depends(require("read"))):
    """Evidence links as stored (reading changes nothing). Suggestions are computed by the
    worker after documents are ingested, and by …/evidence/refresh; the header
    `X-Suggestions-Stale: 1` says the store changed since they were computed."""
    c, code = ctx(request), _code(request, code)
    state = c.db.criterion(aid, code)
    response.headers["X-Suggestions-Stale"] = "1" if workflow.suggestions_stale(c.kb, state) else "0"
    # `changed`: accepted, but its document no longer holds that text (drafts leave it out)
    return workflow.mark_changed(c.kb, state["evidence"])


@router.post("/assessments/{aid}/criteria/{code}/evidence/refresh")
def refresh_evidence(aid: int, code: str, request: Request, user=Depends(require("evidence.suggest"))):
    c, code = ctx(request), _code(request, code)
    c.db.assessment(aid)
    workflow.suggest(c.kb, c.db, aid, code, user["id"], force=True)
    return workflow.mark_changed(c.kb, c.db.criterion(aid, code)["evidence"])


@router.post("/assessments/{aid}/evidence/{link_id}/{decision}")
def decide(aid: int, link_id: int, decision: Literal["accept", "reject", "reset", "accept-new"],
           request: Request, body: Decision | None = None, user=Depends(require("evidence.decide"))):
    """Accept or reject a suggested passage (reset puts it back to suggested); accept-new
    accepts the text a changed document holds now for a link accepted before the change."""
    c, note = ctx(request), body.note if body else ""
    if decision == "accept-new":
        return workflow.accept_current(c.kb, c.db, aid, link_id, user["id"], note)
    state = {"accept": "accepted", "reject": "rejected", "reset": "suggested"}[decision]
    return workflow.mark_changed(c.kb, [c.db.decide_evidence(aid, link_id, state, user["id"], note)])[0]


@router.post("/assessments/{aid}/suggest", status_code=202)
def suggest_all(aid: int, request: Request, body: Suggest | None = None,
                user=Depends(require("evidence.suggest"))):
    """Compute evidence suggestions for many criteria as a background job (see /api/jobs/{id})."""
    c = ctx(request)
    c.db.assessment(aid)
    codes = [_code(request, x) for x in body.codes] if body and body.codes else \
        [cr.code for cr in c.catalogue.criteria()]
    return start_suggest_job(c, aid, codes, user).to_dict()


def start_suggest_job(c, aid: int, codes: list[str], user: dict):
    return jobs.start_suggest(c, aid, codes, user)


# --- drafts and review ----------------------------------------------------------------------------

@router.get("/assessments/{aid}/criteria/{code}/drafts")
def drafts(aid: int, code: str, request: Request, user=Depends(require("read"))):
    return ctx(request).db.criterion(aid, _code(request, code))["versions"]


@router.post("/assessments/{aid}/criteria/{code}/drafts", status_code=201)
def generate(aid: int, code: str, request: Request, body: Generate | None = None,
             user=Depends(require("draft.generate"))):
    """Draft the narrative from the accepted evidence (a new version). On an approved criterion
    the draft sits beside the approved answer, which stays the answer until the draft is taken up
    (…/take-up), submitted and approved."""
    c = ctx(request)
    return workflow.generate(c.kb, c.db, aid, _code(request, code), user["id"],
                             drafter=body.drafter if body else "extractive", draft_fn=c.draft_fn)


@router.put("/assessments/{aid}/criteria/{code}/draft", status_code=201)
def edit(aid: int, code: str, body: Edit, request: Request, user=Depends(require("draft.edit"))):
    """Save an edited text as a new version. 409 if someone saved a newer version since
    `base_version`; the response then holds the current version and your text."""
    c = ctx(request)
    return workflow.edit(c.kb, c.db, aid, _code(request, code), user["id"], body.text, body.base_version)


@router.post("/assessments/{aid}/criteria/{code}/take-up")
def take_up(aid: int, code: str, body: TakeUp, request: Request, user=Depends(require("draft.edit"))):
    """Take up a draft generated beside an approved answer: the criterion goes back to drafting
    (then submit and approve as usual). The approved version stays the exported answer until then."""
    return ctx(request).db.take_up(aid, _code(request, code), body.version, user["id"])


@router.post("/assessments/{aid}/criteria/{code}/submit")
def submit(aid: int, code: str, request: Request, user=Depends(require("draft.submit"))):
    return ctx(request).db.submit(aid, _code(request, code), user["id"])


@router.post("/assessments/{aid}/criteria/{code}/approve")
def approve(aid: int, code: str, body: Approve, request: Request, user=Depends(require("draft.approve"))):
    return ctx(request).db.approve(aid, _code(request, code), body.version, user["id"], body.note,
                                   body.confirmations)


@router.post("/assessments/{aid}/criteria/{code}/return")
def send_back(aid: int, code: str, request: Request, body: Note | None = None,
              user=Depends(require("review.return"))):
    return ctx(request).db.send_back(aid, _code(request, code), user["id"], body.note if body else "")


@router.put("/assessments/{aid}/criteria/{code}/owner")
def set_owner(aid: int, code: str, body: Owner, request: Request, user=Depends(require("owner.assign"))):
    return ctx(request).db.set_owner(aid, _code(request, code), body.owner, user["id"])


@router.post("/assessments/{aid}/criteria/{code}/comments", status_code=201)
def comment(aid: int, code: str, body: NewComment, request: Request, user=Depends(require("comment"))):
    return ctx(request).db.add_comment(aid, _code(request, code), body.text, user["id"])


@router.get("/assessments/{aid}/audit")
def audit(aid: int, request: Request, code: str | None = None, limit: int = Query(200, le=2000),
          user=Depends(require("read"))):
    c = ctx(request)
    c.db.assessment(aid)
    return c.db.audit(aid, _code(request, code) if code else None, limit)


# --- search, documents, jobs ----------------------------------------------------------------------

@router.get("/search")
def search(request: Request, q: str = Query(min_length=1), k: int = Query(10, ge=1, le=100),
           year: int | None = None, type: str | None = None, file: str | None = None,
           mode: Literal["hybrid", "bm25", "chars", "dense"] = "hybrid", user=Depends(require("read"))):
    filters = Filters(fiscal_year=year, doc_type=type.lstrip(".").lower() if type else None, file_name=file)
    return [h.to_dict() for h in ctx(request).kb.search(q, k=k, filters=filters, mode=mode)]


@router.get("/documents")
def list_documents(request: Request, user=Depends(require("read"))):
    return uploads.documents(ctx(request))


# The files are parsed by a dependency, after the credentials (see uploads.received_files), so
# the form is described to OpenAPI by hand.
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"],
    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                             "description": "PDF, DOCX, XLSX, CSV, HTML, TXT, MD"}}}}}}}


@router.post("/documents", status_code=202, openapi_extra=_UPLOAD_BODY)
def upload(request: Request, files: list[UploadFile] = Depends(uploads.received_files),
           user=Depends(uploads.may_upload)):
    """Upload documents; each file is accepted or refused on its own (`files`: one entry per
    file, in order, with `accepted` and, if refused, a Thai `reason`). The accepted ones are
    ingested as a background job: poll /api/jobs/{id}. 422 when no file was accepted."""
    c = ctx(request)
    outcome = uploads.save(files, c, user)
    job = uploads.start_ingest(c, outcome, user)
    body = {"job": job.to_dict() if job else None, "files": outcome,
            "accepted": sum(f["accepted"] for f in outcome), "refused": sum(not f["accepted"] for f in outcome)}
    if job is None:
        return JSONResponse({"detail": f"ไม่ได้รับไฟล์ใดไว้ ({len(outcome)} ไฟล์ถูกปฏิเสธ ดูเหตุผลใน files)", **body},
                            status_code=422)
    return body


# --- source preview (kb/preview.py): any logged-in role may look at what a citation cites ---------
# Every role may read every stored document (the documents page lists them all), so "read" is the
# check here too. An unknown id raises PreviewNotFound, a NotFound: 404 with its Thai message.

@router.get("/chunks/{chunk_id}/preview")
def chunk_preview(chunk_id: str, request: Request, user=Depends(require("read"))):
    """The cited passage with its neighbours: for a sheet the header and the rows around it, for a
    PDF also `page_image` (the page as PNG with the passage marked) and `note` on what it shows."""
    from kb import preview
    p = preview.preview(ctx(request).kb.store, chunk_id)
    body = p.to_dict()
    body["page_image"] = f"/api/chunks/{chunk_id}/page.png" if p.kind == "pdf" and p.file_available else None
    body["download"] = f"/api/documents/{p.doc_id}/file" if p.file_available else None
    return body


@router.get("/chunks/{chunk_id}/page.png")
def chunk_page_image(chunk_id: str, request: Request, highlight: bool = True,
                     scale: float = Query(1.5, ge=0.5, le=3.0), user=Depends(require("read"))):
    """The PDF page a passage is on, rendered, the passage's lines marked in yellow where the
    text layer says where they are (`X-Highlight`: found, partial, not_found, ocr; off with highlight=false)."""
    from kb import preview
    img = preview.page_image(ctx(request).kb.store, chunk_id, scale=scale, highlight=highlight)
    # private: the page belongs to a document only logged-in users may read, so no shared cache
    # may keep it
    return Response(img.png, media_type="image/png",
                    headers={"X-Highlight": img.status, "Cache-Control": "private, max-age=300"})


def _ascii_file_name(name: str) -> str:
    """A stand-in for clients that ignore filename*: printable ASCII only, without the quote and
    backslash that would end or escape the quoted header value."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name) or "download"


@router.get("/documents/{doc_id}/file")
def download_document(doc_id: str, request: Request, user=Depends(require("read"))):
    """The original file of a stored document, as uploaded or ingested (looked up by its id)."""
    from urllib.parse import quote

    from fastapi.responses import FileResponse

    from kb import preview
    path, name, media = preview.original_file(ctx(request).kb.store, doc_id)
    # RFC 6266: an ASCII stand-in for old clients, the Thai name in filename*; attachment, so an
    # uploaded HTML file is saved, never rendered as a page of this site
    return FileResponse(path, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"{_ascii_file_name(name)}\"; "
                               f"filename*=UTF-8''{quote(name, safe='')}",
        "Cache-Control": "private, no-store"})


@router.delete("/documents/{doc_id}")
def delete_document(doc_id: str, request: Request, user=Depends(require("document.delete"))):
    return uploads.delete(ctx(request), doc_id, user)


@router.get("/jobs/{job_id}")
def job(job_id: str, request: Request, user=Depends(require("read"))):
    """A job's state (queued, running, done, failed, cancelled), progress and per-file errors."""
    return jobs.get(ctx(request), job_id).to_dict()


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, request: Request, user=Depends(require("read"))):
    """Cancel a job: a queued one never starts; a running one stops before its next file (or
    criterion), and what it already stored stays stored. 409 once it has ended."""
    return jobs.cancel(ctx(request), job_id, user).to_dict()


# --- coverage and export --------------------------------------------------------------------------

@router.get("/assessments/{aid}/coverage")
def coverage(aid: int, request: Request, user=Depends(require("read"))):
    c = ctx(request)
    return workflow.coverage(c.catalogue, c.db, aid)


@router.get("/assessments/{aid}/export")
def export_form(aid: int, request: Request, format: Literal["docx", "md", "json"] = "docx",
                include_drafts: bool = False, user=Depends(require("export"))):
    """The completed แบบฟอร์มที่ 3 (☑ approved answers, evidence appendix) as DOCX, Markdown or JSON."""
    return export_response(ctx(request), aid, format, include_drafts)


def export_response(c, aid: int, fmt: str, include_drafts: bool) -> Response:
    data = export.form_data(c.catalogue, c.db, aid, include_drafts=include_drafts)
    name = export.file_name(data, fmt)
    return Response(export.render(data, fmt), media_type=export.MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


__all__ = ["router", "current_user", "start_suggest_job", "export_response"]
