"""The FastAPI application: JSON API (/api, OpenAPI at /docs) and the Thai web app (/).

`create_app()` builds it; the KnowledgeBase, review database and job queue are created once,
at startup, and shared by every request (see api/context.py). Ingestion and bulk suggestion run
in the worker process (`kb worker`, kb/queue.py), never here.
"""
from __future__ import annotations

import os
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers

from api import uploads
from api.context import AppContext, Limits
from kb.queue import JobQueue
from api.security import LoginRequired
from kb.review import Conflict, Invalid, NotFound, ReviewDB, ReviewError, database_url

HERE = Path(__file__).parent
DEFAULT_AGENCY = "หน่วยงานของท่าน"


def current_fiscal_year(today: date | None = None) -> int:
    """Thai fiscal year in พ.ศ.: it starts on 1 October."""
    today = today or date.today()
    return today.year + 543 + (1 if today.month >= 10 else 0)


def create_app(settings=None, *, kb=None, database: str | None = None, draft_fn: Callable | None = None,
               limits: Limits | None = None, agency: str | None = None,
               fiscal_year: int | None = None, immediate_jobs: bool = False) -> FastAPI:
    """`kb` may be given (tests share one); otherwise it is created from `settings` at startup.
    `draft_fn` replaces kb.draft.draft_criterion (tests, or another drafter). `immediate_jobs`
    (tests only) runs each job inside the request that enqueues it, instead of in the worker."""
    from kb.config import Settings

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal settings
        settings = settings or (kb.settings if kb is not None else Settings.from_env())
        own_kb = kb is None
        if own_kb:
            from kb.service import KnowledgeBase
            base = KnowledgeBase(settings)
        else:
            base = kb
        db = ReviewDB(database or database_url(settings.data_dir))
        # Unfinished uploads are the worker's (it resumes them after a crash): not touched here.
        if not db.assessments():
            # A fresh install opens on a working assessment rather than an empty screen.
            db.create_assessment(agency or os.environ.get("KB_AGENCY") or DEFAULT_AGENCY,
                                 fiscal_year or int(os.environ.get("KB_FISCAL_YEAR") or current_fiscal_year()))
        jobs = JobQueue(settings, db, kb=base, immediate=immediate_jobs)
        app.state.ctx = AppContext(kb=base, db=db, jobs=jobs,
                                   upload_dir=Path(settings.data_dir) / "uploads",
                                   limits=limits or Limits.from_env(), draft_fn=draft_fn)
        try:
            yield
        finally:
            db.dispose()
            if own_kb:
                base.store.close()

    app = FastAPI(title="kb — คลังหลักฐานแบบฟอร์มที่ 3 (PMQA 4.0)", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None,      # /docs is served below, from local files
                  description="Evidence, drafts, review and export for the Public Sector 4.0 "
                              "self-assessment. Authenticate with `POST /api/tokens`, then send "
                              "`Authorization: Bearer <token>`.")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _offline_docs(app)

    from api import rest, web
    app.include_router(rest.router)
    app.include_router(web.router)

    app.add_middleware(UploadBodyCap)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired):
        target = "/login?next=" + request.url.path
        if request.headers.get("hx-request"):
            return PlainTextResponse("ต้องเข้าสู่ระบบใหม่", status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(ReviewError)
    async def review_error(request: Request, exc: ReviewError):
        code = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else \
            422 if isinstance(exc, Invalid) else 400
        return _error(request, code, str(exc), getattr(exc, "payload", None))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return _error(request, exc.status_code, exc.detail, headers=exc.headers)

    return app


def _offline_docs(app: FastAPI) -> None:
    """The OpenAPI page with Swagger UI's files from the swagger-ui-bundle package: FastAPI's
    default loads them from a CDN, which an offline machine cannot reach."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + " — API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


# Scripts only from this server (app.js, htmx); inline style attributes are allowed because the
# templates and htmx's indicator use them. /docs needs Swagger UI's one inline start-up script.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
CSP_DOCS = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]


class SecurityHeaders:
    """Headers every response carries: a content security policy, no framing (clickjacking),
    no MIME sniffing of uploads and downloads, no referrer to other sites."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = (CSP_DOCS if scope["path"] == "/docs" else CSP).encode()

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS,
                                      (b"content-security-policy", csp)]
            await send(message)

        await self.app(scope, receive, with_headers)


class UploadBodyCap:
    """Caps the body of an upload request (api.uploads.body_cap): refused from its Content-Length
    before anything is read, and counted as it arrives for a client that sends no length, so no
    request can make the server spool more than a full batch. Credentials are checked later, by
    the route, but still before the body is parsed (api.uploads.received_files)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in uploads.PATHS:
            return await self.app(scope, receive, send)
        limits = scope["app"].state.ctx.limits
        cap = uploads.body_cap(limits)
        message = (f"คำขอใหญ่เกินกำหนด: อัปโหลดได้ครั้งละไม่เกิน {limits.files_per_upload} ไฟล์ "
                   f"ไฟล์ละไม่เกิน {uploads.human_size(limits.upload_bytes)}")
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > cap:
            return await _error(Request(scope), 413, message)(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            event = await receive()
            received += len(event.get("body", b""))
            if received > cap:
                raise HTTPException(413, message)     # raised inside the route: the handlers answer
            return event

        await self.app(scope, counted, send)


def _error(request: Request, status: int, message, payload: dict | None = None, headers=None):
    """JSON for the API; a plain Thai line for htmx (shown as a notice by app.js); a page otherwise."""
    if request.url.path.startswith("/api/") or not isinstance(message, str):
        return JSONResponse({"detail": message, **(payload or {})}, status_code=status, headers=headers)
    if request.headers.get("hx-request") or request.headers.get("x-requested-with"):
        return PlainTextResponse(message, status_code=status, headers=headers)
    from api.web import templates
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                      status_code=status, headers=headers)

