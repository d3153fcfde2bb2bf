"""Who is asking, and may they: Bearer tokens for scripts, a session cookie for the browser.

Every mutating route declares the action it performs (`require("draft.approve")`); the one
policy is `kb.auth.PERMISSIONS`. A cookie-authenticated write must also carry the session's
CSRF secret in the X-CSRF-Token header (htmx and app.js send it; another site cannot read it),
so a page elsewhere cannot make the browser write on the user's behalf. Bearer requests need
no such check: a browser never attaches Authorization headers on its own.
"""
from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request

from kb import auth

SESSION_COOKIE = "kb_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class LoginRequired(Exception):
    """Raised by page routes; the app turns it into a redirect to /login."""


def ctx(request: Request):
    return request.app.state.ctx


def current_user(request: Request) -> dict | None:
    cached = getattr(request.state, "user", "unset")
    if cached != "unset":
        return cached
    db = ctx(request).db
    user, problem = None, None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user, problem = auth.check_token(db, header[7:].strip())
        if user:
            user["via"] = "bearer"
    elif request.cookies.get(SESSION_COOKIE):
        user, problem = auth.check_token(db, request.cookies[SESSION_COOKIE], kind="session")
        if user:
            user["via"] = "cookie"
    request.state.user = user
    # why a known token no longer works (revoked, expired, user disabled): the 401 says so
    request.state.auth_problem = problem
    return user


def client_address(request: Request) -> str | None:
    """The address logins are throttled by. Behind a reverse proxy, run uvicorn with
    --proxy-headers --forwarded-allow-ips=<the proxy> so this is the client, not the proxy."""
    return request.client.host if request.client else None


def _check(request: Request, user: dict | None, action: str) -> dict:
    if user is None:
        problem = getattr(request.state, "auth_problem", None)
        raise HTTPException(401, problem or "ต้องเข้าสู่ระบบก่อน (ส่ง Authorization: Bearer <token> หรือเข้าสู่ระบบทางเว็บ)",
                            headers={"WWW-Authenticate": "Bearer"})
    if not auth.can(user["role"], action):
        need = auth.ROLE_TH[auth.PERMISSIONS[action]]
        raise HTTPException(403, f"บทบาท {auth.ROLE_TH.get(user['role'], user['role'])} ทำสิ่งนี้ไม่ได้ "
                                 f"(ต้องเป็น{need}ขึ้นไป)")
    if user.get("via") == "cookie" and request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "")
        if not (user.get("csrf") and hmac.compare_digest(sent, user["csrf"])):
            raise HTTPException(403, "คำขอไม่มีรหัสยืนยันของเซสชัน (CSRF) กรุณาโหลดหน้าใหม่แล้วลองอีกครั้ง")
    return user


def require(action: str):
    """Dependency for API and fragment routes: 401 without credentials, 403 without the role."""
    def dependency(request: Request, user: dict | None = Depends(current_user)) -> dict:
        return _check(request, user, action)
    dependency.__name__ = f"require_{action.replace('.', '_')}"
    return dependency


def page_user(request: Request, user: dict | None = Depends(current_user)) -> dict:
    """Dependency for full pages: a visitor who is not logged in is sent to the login page."""
    if user is None:
        raise LoginRequired()
    return user
