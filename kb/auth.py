"""Users, passwords, sessions and API tokens, and the one table of who may do what.

Passwords are hashed with scrypt (stdlib, memory-hard, no 72-byte limit — Thai passwords are
three bytes a character in UTF-8). Session cookies and API tokens are random strings of which
only a SHA-256 is stored.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from kb.review import ROLES, Invalid, NotFound, ReviewDB, Token, User, now

SESSION_HOURS = 12
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}

# The minimum role for each action. Roles are ordered: a reviewer can do what an editor can.
PERMISSIONS = {
    "read": "viewer",
    "export": "viewer",
    "comment": "editor",
    "evidence.decide": "editor",
    "evidence.suggest": "editor",
    "draft.generate": "editor",
    "draft.edit": "editor",
    "draft.submit": "editor",
    "document.upload": "editor",
    "draft.approve": "reviewer",
    "review.return": "reviewer",
    "owner.assign": "reviewer",
    "document.delete": "admin",
    "assessment.create": "admin",
    "user.manage": "admin",
}

ROLE_TH = {"viewer": "ผู้อ่าน", "editor": "ผู้เขียน", "reviewer": "ผู้ตรวจ", "admin": "ผู้ดูแลระบบ"}


def can(role: str, action: str) -> bool:
    need = PERMISSIONS[action]           # KeyError: an action nobody declared is a bug, not a 'no'
    return role in ROLES and ROLES.index(role) >= ROLES.index(need)


# --- passwords ----------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(got, base64.b64decode(digest))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A hash to compare against when the user does not exist, so a wrong name costs the same time
# as a wrong password (names cannot be probed by timing).
_DUMMY_HASH = hash_password(secrets.token_hex(8))


# --- users --------------------------------------------------------------------------------------

def add_user(db: ReviewDB, name: str, password: str, role: str, by: int | None = None) -> dict:
    name = name.strip()
    if not name or any(c.isspace() for c in name):
        raise Invalid("ชื่อผู้ใช้ต้องไม่ว่างและไม่มีช่องว่าง")
    if role not in ROLES:
        raise Invalid(f"บทบาทต้องเป็นหนึ่งใน {', '.join(ROLES)} (ไม่ใช่ '{role}')")
    if len(password) < 8:
        raise Invalid("รหัสผ่านต้องยาวอย่างน้อย 8 ตัวอักษร")
    with db.Session.begin() as s:
        if s.scalar(select(User).where(User.name == name)):
            raise Invalid(f"มีผู้ใช้ชื่อ {name} อยู่แล้ว")
        u = User(name=name, role=role, password_hash=hash_password(password))
        s.add(u)
        s.flush()
        db._audit(s, by, "user.add", name=name, role=role)
        return u.to_dict()


def set_password(db: ReviewDB, name: str, password: str, role: str | None = None, by: int | None = None) -> dict:
    if len(password) < 8:
        raise Invalid("รหัสผ่านต้องยาวอย่างน้อย 8 ตัวอักษร")
    with db.Session.begin() as s:
        u = s.scalar(select(User).where(User.name == name))
        if u is None:
            raise NotFound(f"ไม่พบผู้ใช้ชื่อ {name}")
        u.password_hash = hash_password(password)
        if role:
            if role not in ROLES:
                raise Invalid(f"บทบาทต้องเป็นหนึ่งใน {', '.join(ROLES)}")
            u.role = role
        for t in s.scalars(select(Token).where(Token.user_id == u.id, Token.kind == "session")):
            s.delete(t)                # a new password ends the old sessions
        db._audit(s, by, "user.password", name=name, role=u.role)
        return u.to_dict()


def authenticate(db: ReviewDB, name: str, password: str) -> dict | None:
    with db.Session() as s:
        u = s.scalar(select(User).where(User.name == name.strip()))
        ok = check_password(password, u.password_hash if u else _DUMMY_HASH)
        return u.to_dict() if (u and ok and u.active) else None


# --- sessions and tokens -----------------------------------------------------------------------

def issue_token(db: ReviewDB, user_id: int, kind: str, label: str = "") -> dict:
    """A new session (expires after SESSION_HOURS, carries a CSRF secret) or API token (no expiry
    until revoked). The raw token is returned once and never stored."""
    raw = secrets.token_urlsafe(32)
    with db.Session.begin() as s:
        t = Token(user_id=user_id, kind=kind, token_hash=_token_hash(raw), label=label,
                  csrf=secrets.token_urlsafe(24) if kind == "session" else None,
                  expires_at=now() + timedelta(hours=SESSION_HOURS) if kind == "session" else None)
        s.add(t)
        s.flush()
        db._audit(s, user_id, "token.issue", kind=kind, token_id=t.id, label=label)
        return {"id": t.id, "token": raw, "csrf": t.csrf, "kind": kind,
                "expires_at": t.expires_at.isoformat() if t.expires_at else None}


def resolve_token(db: ReviewDB, raw: str, kind: str | None = None) -> dict | None:
    """The user (with the token's kind and CSRF secret) a token belongs to, or None."""
    if not raw:
        return None
    with db.Session() as s:
        row = s.execute(select(Token, User).join(User, User.id == Token.user_id)
                        .where(Token.token_hash == _token_hash(raw))).first()
        if row is None:
            return None
        t, u = row
        if kind and t.kind != kind:
            return None
        if t.expires_at is not None:
            exp = t.expires_at if t.expires_at.tzinfo else t.expires_at.replace(tzinfo=timezone.utc)
            if exp < datetime.now(timezone.utc):
                return None
        if not u.active:
            return None
        return {**u.to_dict(), "token_id": t.id, "token_kind": t.kind, "csrf": t.csrf}


def revoke_token(db: ReviewDB, raw: str) -> bool:
    with db.Session.begin() as s:
        t = s.scalar(select(Token).where(Token.token_hash == _token_hash(raw)))
        if t is None:
            return False
        db._audit(s, t.user_id, "token.revoke", kind=t.kind, token_id=t.id)
        s.delete(t)
        return True
