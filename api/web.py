"""The Thai web app: server-rendered pages, and htmx fragments for the actions on them.

Pages need a session cookie (a visitor is sent to /login); fragments are the same actions as
the JSON API, with the same role checks, returning HTML for htmx to swap in.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from api import jobs, uploads
from api.rest import export_response, start_suggest_job
from api.security import SESSION_COOKIE, client_address, ctx, page_user, require
from kb import auth, workflow
from kb.criteria import shorten
from kb.thaidate import thai_datetime
from kb.review import CITATION, EVIDENCE_TH, STATUS_TH, Conflict, Invalid

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


# --- template helpers ---------------------------------------------------------------------------

def highlight(passage: str, sentence: str) -> Markup:
    """The passage with its best sentence marked (both escaped; the sentence may be absent)."""
    passage = passage or ""
    at = passage.find(sentence) if sentence else -1
    if at < 0:
        return escape(passage)
    end = at + len(sentence)
    return escape(passage[:at]) + Markup("<mark>") + escape(passage[at:end]) + Markup("</mark>") + escape(passage[end:])


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


templates.env.filters.update(highlight=highlight, pct=pct, shorten=shorten,
                             status_th=lambda s: STATUS_TH.get(s, s),
                             evidence_th=lambda s: EVIDENCE_TH.get(s, s),
                             role_th=lambda r: auth.ROLE_TH.get(r, r),
                             strip_cites=lambda t: " ".join(CITATION.sub(" ", t or "").split()),
                             # people read Thai dates and Thai names for actions and drafters,
                             # never the codes the JSON API keeps
                             thai_datetime=thai_datetime, audit_th=workflow.audit_text,
                             drafter_th=lambda d: workflow.DRAFTER_TH.get(d, "ระบบ"))
templates.env.globals.update(can=auth.can, STATUS_TH=STATUS_TH)


def render(request: Request, template: str, status: int = 200, headers: dict | None = None,
           **context) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "user", None))
    return templates.TemplateResponse(request, template, context, status_code=status, headers=headers)


def _code(request: Request, code: str) -> str:
    try:
        return ctx(request).catalogue.get(code).code
    except KeyError:
        raise HTTPException(404, f"ไม่พบเกณฑ์รหัส {code} ในแบบฟอร์ม") from None


# --- login --------------------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    # only paths on this site: never redirect a freshly logged-in user elsewhere
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/"):
    return render(request, "login.html", user=None, next=_safe_next(next), error=None)


@router.post("/login")
def login(request: Request, name: str = Form(...), password: str = Form(...), next: str = Form("/")):
    c = ctx(request)
    try:
        user = auth.login(c.db, name, password, client_address(request))
    except auth.LoginRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        return render(request, "login.html", status=refused.status, headers=headers, user=None,
                      next=_safe_next(next), error=str(refused), name=name)
    session = auth.issue_token(c.db, user["id"], "session", label="เว็บเบราว์เซอร์")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, session["token"], max_age=auth.SESSION_HOURS * 3600,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, user=Depends(require("read"))):
    auth.revoke_token(ctx(request).db, request.cookies.get(SESSION_COOKIE, ""))
    response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- the criteria tree --------------------------------------------------------------------------

@router.get("/")
def home(request: Request, user=Depends(page_user)):
    assessments = ctx(request).db.assessments()
    return RedirectResponse(f"/a/{assessments[0]['id']}", status_code=303)


@router.get("/a/{aid}")
def tree(aid: int, request: Request, user=Depends(page_user)):
    c = ctx(request)
    return render(request, "tree.html", tree=workflow.criteria_tree(c.catalogue, c.db, aid),
                  assessments=c.db.assessments(), aid=aid)


@router.post("/assessments")
def new_assessment(request: Request, agency: str = Form(...), fiscal_year: int = Form(...),
                   user=Depends(require("assessment.create"))):
    a = ctx(request).db.create_assessment(agency, fiscal_year, user["id"])
    return Response(status_code=204, headers={"HX-Redirect": f"/a/{a['id']}"})


# --- the criterion page -----------------------------------------------------------------------

def _previous_answer(c, aid: int, code: str, state: dict) -> dict | None:
    """Last year's approved answer of this agency; else what the drafter found from earlier
    years; else the example answer printed in the form the catalogue was built from."""
    prev = c.db.previous_assessment(aid)
    if prev:
        approved = c.db.approved_answers(prev["id"]).get(code)
        if approved:
            return {"label": f"คำตอบที่อนุมัติของปี {prev['fiscal_year']}", "text": approved["text"]}
    for v in reversed(state["versions"]):
        if v.get("previous_answer"):
            return {"label": "คำตอบปีก่อน (จากเอกสาร)", "text": v["previous_answer"]}
    example = c.catalogue.get(code).answer_text()
    if example:
        return {"label": "ตัวอย่างคำตอบจากแบบฟอร์มต้นฉบับ (กรมบังคับคดี ปี 2564)", "text": example}
    return None


def _criterion_context(request: Request, aid: int, code: str) -> dict:
    c = ctx(request)
    state = c.db.criterion(aid, code)
    workflow.mark_changed(c.kb, state["evidence"])
    crit = c.catalogue.get(code)
    latest = state["versions"][-1] if state["versions"] else None
    # The approved answer gets its own place on the panel when a newer draft sits beside it, so
    # the reviewer always sees which text is approved (and exported) and which is newer.
    answer = next((v for v in state["versions"] if v["version"] == state["approved_version"]), None)
    if answer is latest:
        answer = None
    return {"aid": aid, "code": code, "criterion": crit, "state": state, "latest": latest,
            "view": workflow.draft_view(latest, c.db.confirmed_flags(aid, code, latest["version"])
                                        if latest and latest.get("approved_by") else None) if latest else [],
            "answer": answer,
            "answer_view": workflow.draft_view(answer, c.db.confirmed_flags(aid, code, answer["version"]))
            if answer else [],
            "assessment": c.db.assessment(aid), "previous": _previous_answer(c, aid, code, state),
            "suggestions_stale": workflow.suggestions_stale(c.kb, state),
            "users": c.db.users() if auth.can(request.state.user["role"], "owner.assign") else [],
            "history": c.db.audit(aid, code, limit=30)}


@router.get("/a/{aid}/c/{code}")
def criterion_page(aid: int, code: str, request: Request, user=Depends(page_user)):
    # read-only: suggestions come from the worker (after ingest) and the refresh button
    code = _code(request, code)
    return render(request, "criterion.html", **_criterion_context(request, aid, code))


@router.post("/a/{aid}/c/{code}/evidence/refresh")
def refresh_evidence(aid: int, code: str, request: Request, user=Depends(require("evidence.suggest"))):
    c, code = ctx(request), _code(request, code)
    workflow.suggest(c.kb, c.db, aid, code, user["id"], force=True)
    return render(request, "_evidence.html", **_criterion_context(request, aid, code))


@router.post("/a/{aid}/c/{code}/evidence/{link_id}/{decision}")
def decide(aid: int, code: str, link_id: int, decision: str, request: Request, note: str = Form(""),
           user=Depends(require("evidence.decide"))):
    states = {"accept": "accepted", "reject": "rejected", "reset": "suggested"}
    if decision not in states and decision != "accept-new":
        raise HTTPException(404, "ไม่รู้จักคำสั่งนี้")
    c, code = ctx(request), _code(request, code)
    if decision == "accept-new":        # the text the changed document holds now
        link = workflow.accept_current(c.kb, c.db, aid, link_id, user["id"], note)
    else:
        link = workflow.mark_changed(c.kb, [c.db.decide_evidence(aid, link_id, states[decision], user["id"], note)])[0]
    # the card, plus the counts above the cards, swapped out of band
    return render(request, "_evidence_card.html", aid=aid, code=code, link=link, oob=True,
                  state=ctx(request).db.criterion(aid, code), headers={"HX-Trigger": "evidence-changed"})


def _draft_panel(request: Request, aid: int, code: str, status: int = 200, **extra) -> HTMLResponse:
    return render(request, "_draft.html", status=status, headers={"HX-Trigger": "criterion-changed"},
                  oob=True, **{**_criterion_context(request, aid, code), **extra})


@router.post("/a/{aid}/c/{code}/draft/generate")
def generate(aid: int, code: str, request: Request, drafter: str = Form("extractive"),
             user=Depends(require("draft.generate"))):
    c, code = ctx(request), _code(request, code)
    workflow.generate(c.kb, c.db, aid, code, user["id"], drafter=drafter, draft_fn=c.draft_fn)
    return _draft_panel(request, aid, code)


@router.post("/a/{aid}/c/{code}/draft")
def edit(aid: int, code: str, request: Request, text: str = Form(...), base_version: int = Form(0),
         user=Depends(require("draft.edit"))):
    c, code = ctx(request), _code(request, code)
    try:
        workflow.edit(c.kb, c.db, aid, code, user["id"], text, base_version)
    except Conflict as conflict:
        # 409, and the writer's text comes back in the editor, beside the newer version
        return _draft_panel(request, aid, code, status=409, conflict=conflict.payload, message=str(conflict))
    return _draft_panel(request, aid, code)


@router.post("/a/{aid}/c/{code}/take-up")
def take_up(aid: int, code: str, request: Request, version: int = Form(...),
            user=Depends(require("draft.edit"))):
    """“ใช้ร่างนี้แก้ไขต่อ”: a machine draft beside the approved answer enters the review cycle."""
    ctx(request).db.take_up(aid, _code(request, code), version, user["id"])
    return _draft_panel(request, aid, _code(request, code))


@router.post("/a/{aid}/c/{code}/submit")
def submit(aid: int, code: str, request: Request, user=Depends(require("draft.submit"))):
    ctx(request).db.submit(aid, _code(request, code), user["id"])
    return _draft_panel(request, aid, _code(request, code))


@router.post("/a/{aid}/c/{code}/approve")
def approve(aid: int, code: str, request: Request, version: int = Form(...), note: str = Form(""),
            flag: list[int] = Form([]), reason: list[str] = Form([]),
            user=Depends(require("draft.approve"))):
    # one reason field per flagged sentence, in the order of `flag`
    confirmations = {i: r for i, r in zip(flag, reason) if r.strip()}
    try:
        ctx(request).db.approve(aid, _code(request, code), version, user["id"], note, confirmations)
    except Invalid as refused:
        # the panel comes back (409, which the page swaps in) saying why, reasons kept
        return _draft_panel(request, aid, _code(request, code), status=409, refused=True,
                            message=str(refused), reasons=confirmations)
    return _draft_panel(request, aid, _code(request, code))


@router.post("/a/{aid}/c/{code}/return")
def send_back(aid: int, code: str, request: Request, note: str = Form(""),
              user=Depends(require("review.return"))):
    ctx(request).db.send_back(aid, _code(request, code), user["id"], note)
    return _draft_panel(request, aid, _code(request, code))


@router.post("/a/{aid}/c/{code}/owner")
def set_owner(aid: int, code: str, request: Request, owner: str = Form(""),
              user=Depends(require("owner.assign"))):
    ctx(request).db.set_owner(aid, _code(request, code), owner or None, user["id"])
    return render(request, "_side.html", **_criterion_context(request, aid, _code(request, code)))


@router.post("/a/{aid}/c/{code}/comments")
def comment(aid: int, code: str, request: Request, text: str = Form(...), user=Depends(require("comment"))):
    ctx(request).db.add_comment(aid, _code(request, code), text, user["id"])
    return render(request, "_side.html", **_criterion_context(request, aid, _code(request, code)))


@router.get("/a/{aid}/c/{code}/side")
def side(aid: int, code: str, request: Request, user=Depends(require("read"))):
    return render(request, "_side.html", **_criterion_context(request, aid, _code(request, code)))


@router.get("/a/{aid}/c/{code}/source/{version}/{n}")
def source(aid: int, code: str, version: int, n: int, request: Request, user=Depends(require("read"))):
    """The passage a citation chip points to, as stored with that draft version."""
    state = ctx(request).db.criterion(aid, _code(request, code))
    v = next((v for v in state["versions"] if v["version"] == version), None)
    src = next((s for s in (v["sources"] if v else []) if int(s["n"]) == n), None)
    if src is None:
        raise HTTPException(404, f"ไม่พบแหล่งอ้างอิง [{n}] ในร่างฉบับที่ {version}")
    # the source as it stands in its file; the passage kept with the draft when the document has
    # since been removed, or ingested again with other text at that place
    from kb.preview import for_source
    preview = for_source(ctx(request).kb.store, src.get("chunk_id"), src.get("passage", ""))
    return render(request, "_source.html", source=src, version=version, preview=preview,
                  changed=preview is None and bool(src.get("chunk_id")))


@router.get("/preview/{chunk_id}")
def source_preview(chunk_id: str, request: Request, user=Depends(require("read"))):
    """An evidence card's passage in its file: the dialog's content (page image, rows or paragraphs).
    An unknown id is a 404 whose Thai message app.js shows as a notice."""
    from kb.preview import preview
    return render(request, "_preview.html", preview=preview(ctx(request).kb.store, chunk_id))


# --- documents --------------------------------------------------------------------------------

def _accept() -> str:
    return ",".join(sorted(uploads.allowed_types()))


@router.get("/documents")
def documents_page(request: Request, user=Depends(page_user)):
    c = ctx(request)
    return render(request, "documents.html", documents=uploads.documents(c), accept=_accept(),
                  limits=c.limits, limits_line=uploads.limits_line(c.limits), stats=c.kb.store.stats())


def _table(request: Request) -> HTMLResponse:
    c = ctx(request)
    return render(request, "_documents_table.html", documents=uploads.documents(c), stats=c.kb.store.stats())


@router.get("/documents/table")
def documents_table(request: Request, user=Depends(require("read"))):
    return _table(request)


@router.post("/documents/upload")
def upload(request: Request, files: list[UploadFile] = Depends(uploads.received_files),
           user=Depends(uploads.may_upload)):
    # 200 even when every file is refused: the fragment is the per-file answer, and htmx
    # swaps only 2xx responses into the page
    c = ctx(request)
    outcome = uploads.save(files, c, user)
    job = uploads.start_ingest(c, outcome, user)
    return render(request, "_upload_result.html", job=job.to_dict() if job else None,
                  refused=[f for f in outcome if not f["accepted"]], total=len(outcome),
                  headers={"HX-Trigger": "documents-changed"} if job else None)


@router.post("/documents/{doc_id}/delete")
def delete_document(doc_id: str, request: Request, user=Depends(require("document.delete"))):
    uploads.delete(ctx(request), doc_id, user)
    return _table(request)


@router.get("/jobs/{job_id}")
def job(job_id: str, request: Request, user=Depends(require("read"))):
    j = jobs.get(ctx(request), job_id)
    # the finished job tells the page to reload what the job changed
    headers = {"HX-Trigger": "documents-changed"} if j.finished and j.kind == "ingest" else None
    return render(request, "_job.html", job=j.to_dict(), headers=headers)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, request: Request, user=Depends(require("read"))):
    """The cancel button of the job card: the card comes back in its new state."""
    j = jobs.cancel(ctx(request), job_id, user)
    headers = {"HX-Trigger": "documents-changed"} if j.finished and j.kind == "ingest" else None
    return render(request, "_job.html", job=j.to_dict(), headers=headers)


# --- coverage, search, export -------------------------------------------------------------------

@router.get("/a/{aid}/coverage")
def coverage_page(aid: int, request: Request, user=Depends(page_user)):
    c = ctx(request)
    cov = workflow.coverage(c.catalogue, c.db, aid)
    keys = ("not_started", "drafting", "in_review", "approved", "accepted", "suggested", "no_evidence")
    maxes = {k: max([1] + [it[k] for it in cov["items"]]) for k in keys}   # colour scale per column
    return render(request, "coverage.html", aid=aid, assessment=c.db.assessment(aid), cov=cov, maxes=maxes)


@router.post("/a/{aid}/suggest")
def suggest_all(aid: int, request: Request, user=Depends(require("evidence.suggest"))):
    c = ctx(request)
    c.db.assessment(aid)
    job = start_suggest_job(c, aid, [cr.code for cr in c.catalogue.criteria()], user)
    return render(request, "_job.html", job=job.to_dict())


@router.get("/search")
def search_page(request: Request, q: str = "", user=Depends(page_user)):
    c = ctx(request)
    hits = c.kb.search(q, k=20) if q.strip() else []
    return render(request, "search.html", q=q, hits=hits, aid=c.db.assessments()[0]["id"])


@router.get("/a/{aid}/export")
def export_form(aid: int, request: Request, format: str = "docx", include_drafts: bool = False,
                user=Depends(require("export"))):
    if format not in ("docx", "md", "json"):
        raise HTTPException(422, "รูปแบบไฟล์ต้องเป็น docx, md หรือ json")
    return export_response(ctx(request), aid, format, include_drafts)
