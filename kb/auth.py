"""Users, passwords, sessions and API tokens, login throttling, and the one table of who may do what.

Passwords are hashed with scrypt (stdlib, memory-hard, no 72-byte limit — Thai passwords are
three bytes a character in UTF-8). Session cookies and API tokens are random strings of which
only a SHA-256 is stored; both expire (sessions after SESSION_HOURS, API tokens after
KB_TOKEN_DAYS) and can be revoked. A new password, or disabling the user, revokes them all.

Logins are throttled per account name and per client address (`LoginLimits`): the failures
and locks live in the review database, so every web worker and a restart see the same count.
See docs/security.md.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from kb.review import (ROLE_TH, ROLES, Invalid, LoginFailure, LoginLock, NotFound, ReviewDB, Token, User,
                       now)
from kb.thaidate import thai_datetime

SESSION_HOURS = 12
TOKEN_DAYS = 90            # KB_TOKEN_DAYS: an API token's life when none is asked for
TOKEN_MAX_DAYS = 365       # KB_TOKEN_MAX_DAYS: the longest one may ask for
KEEP_DEAD_TOKENS_DAYS = 30  # revoked or expired tokens are forgotten this long after
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
    "assign.bulk": "admin",           # a whole หมวด or item at once: the working group's lead
    "document.delete": "admin",
    "assessment.create": "admin",
    "user.manage": "admin",
}



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


def _utc(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:     # SQLite hands back naive datetimes (all UTC)
        return dt.replace(tzinfo=timezone.utc)
    return dt


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number (got {raw!r})") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative (got {raw!r})")
    return value


# --- users --------------------------------------------------------------------------------------

def _password_ok(password: str) -> None:
    if len(password) < 8:
        raise Invalid("รหัสผ่านต้องยาวอย่างน้อย 8 ตัวอักษร")


def _user(s, name: str) -> User:
    u = s.scalar(select(User).where(User.name == (name or "").strip()))
    if u is None:
        raise NotFound(f"ไม่พบผู้ใช้ชื่อ {name}")
    return u


def add_user(db: ReviewDB, name: str, password: str, role: str, by: int | None = None) -> dict:
    name = name.strip()
    if not name or any(c.isspace() for c in name):
        raise Invalid("ชื่อผู้ใช้ต้องไม่ว่างและไม่มีช่องว่าง")
    if role not in ROLES:
        raise Invalid(f"บทบาทต้องเป็นหนึ่งใน {', '.join(ROLES)} (ไม่ใช่ '{role}')")
    _password_ok(password)
    with db.Session.begin() as s:
        if s.scalar(select(User).where(User.name == name)):
            raise Invalid(f"มีผู้ใช้ชื่อ {name} อยู่แล้ว")
        u = User(name=name, role=role, password_hash=hash_password(password))
        s.add(u)
        s.flush()
        db._audit(s, by, "user.add", name=name, role=role)
        return u.to_dict()


def set_password(db: ReviewDB, name: str, password: str, role: str | None = None, by: int | None = None) -> dict:
    """A new password (an administrator's reset, or the user's own change): every session and
    API token of the user is revoked, since whoever knew the old password may hold one."""
    _password_ok(password)
    with db.Session.begin() as s:
        u = _user(s, name)
        if role:
            if role not in ROLES:
                raise Invalid(f"บทบาทต้องเป็นหนึ่งใน {', '.join(ROLES)}")
            u.role = role
        u.password_hash = hash_password(password)
        revoked = _revoke_all(s, u.id)
        db._audit(s, by, "user.password", name=u.name, role=u.role, revoked=revoked)
        return {**u.to_dict(), "revoked": revoked}


def change_own_password(db: ReviewDB, user_id: int, current: str, new: str) -> dict:
    with db.Session() as s:
        u = s.get(User, user_id)
        if u is None or not check_password(current, u.password_hash):
            raise Invalid("รหัสผ่านปัจจุบันไม่ถูกต้อง")
        name = u.name
    return set_password(db, name, new, by=user_id)


def set_active(db: ReviewDB, name: str, active: bool, by: int | None = None) -> dict:
    """Disable (or enable again) a user. Disabling revokes every session and token at once;
    enabling does not bring them back. The last active administrator cannot be disabled, nor
    can administrators disable themselves."""
    with db.Session.begin() as s:
        u = _user(s, name)
        revoked = 0
        if not active:
            if by is not None and by == u.id:
                raise Invalid(f"ระงับบัญชีของตนเอง ({u.name}) ไม่ได้ ให้ผู้ดูแลระบบคนอื่นเป็นผู้ระงับ")
            if u.role == "admin" and u.active:
                admins = s.scalar(select(func.count()).select_from(User)
                                  .where(User.role == "admin", User.active.is_(True)))
                if admins <= 1:
                    raise Invalid(f"ระงับผู้ใช้ {u.name} ไม่ได้ เพราะเป็นผู้ดูแลระบบคนสุดท้ายที่ยังใช้งานได้")
            revoked = _revoke_all(s, u.id)
        if u.active != active:
            u.active = active
            db._audit(s, by, "user.enable" if active else "user.disable", name=u.name, revoked=revoked)
        return {**u.to_dict(), "revoked": revoked}


def authenticate(db: ReviewDB, name: str, password: str) -> dict | None:
    """The user, when the name and password match and the user is active (no throttling:
    logins from people go through `login`)."""
    with db.Session() as s:
        u = s.scalar(select(User).where(User.name == name.strip()))
        ok = check_password(password, u.password_hash if u else _DUMMY_HASH)
        return u.to_dict() if (u and ok and u.active) else None


# --- login, throttled -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginLimits:
    """After `per_account` failed logins for one name (or `per_address` from one client address)
    within `window_minutes`, that name (address) is refused for `lock_minutes`. 0 turns a limit
    off. From KB_LOGIN_MAX_FAILURES, KB_LOGIN_MAX_FAILURES_PER_ADDRESS, KB_LOGIN_WINDOW_MINUTES
    and KB_LOGIN_LOCK_MINUTES."""
    per_account: int = 5
    per_address: int = 20
    window_minutes: float = 15
    lock_minutes: float = 15

    @classmethod
    def from_env(cls) -> "LoginLimits":
        return cls(per_account=int(_env_number("KB_LOGIN_MAX_FAILURES", cls.per_account)),
                   per_address=int(_env_number("KB_LOGIN_MAX_FAILURES_PER_ADDRESS", cls.per_address)),
                   window_minutes=_env_number("KB_LOGIN_WINDOW_MINUTES", cls.window_minutes),
                   lock_minutes=_env_number("KB_LOGIN_LOCK_MINUTES", cls.lock_minutes))


class LoginRefused(Exception):
    """A login that did not succeed: `status` 401 (wrong name or password), 403 (the user is
    disabled) or 429 (throttled; `retry_after` seconds). `str()` is the Thai message."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


WRONG_CREDENTIALS = "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"


def _keys(name: str, address: str | None) -> list[tuple[str, str]]:
    keys = [("account", f"account:{name}"[:200])]
    if address:
        keys.append(("address", f"address:{address}"[:200]))
    return keys


def _locked_message(kind: str, name: str, until: datetime) -> str:
    minutes = max(1, math.ceil((until - now()).total_seconds() / 60))
    who = f"ชื่อผู้ใช้ {name}" if kind == "account" else "เครื่องนี้ (ที่อยู่เครือข่ายเดียวกัน)"
    return (f"เข้าสู่ระบบด้วย{who}ผิดหลายครั้งเกินไป ระบบจึงระงับการเข้าสู่ระบบไว้ชั่วคราว "
            f"กรุณาลองใหม่ในอีกประมาณ {minutes} นาที (หลังเวลา {thai_datetime(until)} น.) "
            "หากลืมรหัสผ่าน กรุณาติดต่อผู้ดูแลระบบ")


def _refused_if_locked(s, keys, name: str) -> None:
    locks = {lock.key: lock for lock in s.scalars(select(LoginLock).where(LoginLock.key.in_([k for _, k in keys])))}
    current = [(kind, _utc(locks[k].until)) for kind, k in keys if k in locks and _utc(locks[k].until) > now()]
    if current:
        kind, until = max(current, key=lambda c: c[1])
        raise LoginRefused(429, _locked_message(kind, name, until),
                           retry_after=max(1, math.ceil((until - now()).total_seconds())))


def login(db: ReviewDB, name: str, password: str, address: str | None = None,
          limits: LoginLimits | None = None) -> dict:
    """The user for a name and password, with throttling; raises LoginRefused otherwise.

    A locked account or address is refused before the password is looked at (so guesses made
    during a lock tell nothing). A success clears the account's failures; the address's stay,
    so one valid account cannot be used to keep guessing others from the same place."""
    limits = limits or LoginLimits.from_env()
    name = (name or "").strip()
    keys = _keys(name, address)
    with db.Session() as s:
        _refused_if_locked(s, keys, name)
        u = s.scalar(select(User).where(User.name == name))
        ok = check_password(password, u.password_hash if u else _DUMMY_HASH)
        user = u.to_dict() if u else None
    if ok and user:
        if not user["active"]:
            raise LoginRefused(403, f"บัญชีผู้ใช้ {name} ถูกระงับการใช้งาน กรุณาติดต่อผู้ดูแลระบบ")
        with db.Session.begin() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.key == keys[0][1]))
        return user
    locked = _record_failure(db, keys, name, address, user, limits)
    if locked is not None:
        kind, until = locked
        raise LoginRefused(429, f"{WRONG_CREDENTIALS} — " + _locked_message(kind, name, until),
                           retry_after=max(1, math.ceil((until - now()).total_seconds())))
    raise LoginRefused(401, WRONG_CREDENTIALS)


def _record_failure(db: ReviewDB, keys, name: str, address: str | None, user: dict | None,
                    limits: LoginLimits) -> tuple[str, datetime] | None:
    """Count one failure against each key; lock a key that reaches its limit. Returns the
    (kind, until) of a lock this failure set, if any."""
    limit = {"account": limits.per_account, "address": limits.per_address}
    for attempt in range(3):           # two workers may set the same lock at once: retry
        try:
            with db.Session.begin() as s:
                t = now()
                window_start = t - timedelta(minutes=limits.window_minutes)
                keys_only = [k for _, k in keys]
                s.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys_only),
                                                     LoginFailure.at < window_start))
                s.add_all([LoginFailure(key=k, at=t) for k in keys_only])
                s.flush()
                set_lock = None
                for kind, key in keys:
                    if limit[kind] <= 0 or limits.lock_minutes <= 0:
                        continue
                    lock = s.get(LoginLock, key)
                    # failures before an earlier lock ended do not count again after it
                    since = max(window_start, _utc(lock.locked_at)) if lock else window_start
                    count = s.scalar(select(func.count()).select_from(LoginFailure)
                                     .where(LoginFailure.key == key, LoginFailure.at > since))
                    if count < limit[kind]:
                        continue
                    until = t + timedelta(minutes=limits.lock_minutes)
                    if lock is None:
                        lock = LoginLock(key=key)
                        s.add(lock)
                    lock.locked_at, lock.until, lock.failures = t, until, count
                    db._audit(s, user["id"] if user else None, "login.lock", lock=kind, name=name,
                              address=address, failures=count, until=until.isoformat(timespec="seconds"))
                    if set_lock is None or until > set_lock[1]:
                        set_lock = (kind, until)
                return set_lock
        except IntegrityError:
            if attempt == 2:
                raise
    return None


def unlock(db: ReviewDB, name: str, by: int | None = None) -> bool:
    """Lift a lock on an account name and forget its failures (an administrator's action).
    True when there was a lock."""
    key = _keys(name.strip(), None)[0][1]
    with db.Session.begin() as s:
        lock = s.get(LoginLock, key)
        s.execute(delete(LoginFailure).where(LoginFailure.key == key))
        if lock is None:
            return False
        s.delete(lock)
        u = s.scalar(select(User).where(User.name == name.strip()))
        db._audit(s, by, "login.unlock", name=name.strip(), user=u.id if u else None)
        return True


# --- sessions and tokens -----------------------------------------------------------------------

def token_days(days: float | None = None) -> float:
    """An API token's life in days: `days` when given (1 … KB_TOKEN_MAX_DAYS), else KB_TOKEN_DAYS."""
    longest = _env_number("KB_TOKEN_MAX_DAYS", TOKEN_MAX_DAYS)
    if days is None:
        return min(_env_number("KB_TOKEN_DAYS", TOKEN_DAYS) or TOKEN_DAYS, longest)
    if not 0 < days <= longest:
        raise Invalid(f"อายุของรหัสเข้าใช้งาน (days) ต้องมากกว่า 0 และไม่เกิน {longest:g} วัน (ไม่ใช่ {days:g})")
    return days


def issue_token(db: ReviewDB, user_id: int, kind: str, label: str = "", days: float | None = None,
                by: int | None = None) -> dict:
    """A new session (expires after SESSION_HOURS, carries a CSRF secret) or API token (expires
    after `days`, by default KB_TOKEN_DAYS). The raw token is returned once and never stored."""
    raw = secrets.token_urlsafe(32)
    life = timedelta(hours=SESSION_HOURS) if kind == "session" else timedelta(days=token_days(days))
    with db.Session.begin() as s:
        forget = now() - timedelta(days=KEEP_DEAD_TOKENS_DAYS)
        s.execute(delete(Token).where((Token.expires_at < forget) | (Token.revoked_at < forget)))
        t = Token(user_id=user_id, kind=kind, token_hash=_token_hash(raw), label=label,
                  csrf=secrets.token_urlsafe(24) if kind == "session" else None,
                  expires_at=now() + life)
        s.add(t)
        s.flush()
        db._audit(s, by if by is not None else user_id, "token.issue", kind=kind, token_id=t.id,
                  label=label, user=user_id, expires_at=_utc(t.expires_at).isoformat(timespec="seconds"))
        return {**t.to_dict(), "token": raw, "csrf": t.csrf}


def check_token(db: ReviewDB, raw: str, kind: str | None = None) -> tuple[dict | None, str | None]:
    """(the user a token belongs to, with the token's id, kind and CSRF secret; None) — or
    (None, a Thai reason) when the token is known but no longer works (revoked, expired, the
    user disabled), or (None, None) when it is unknown."""
    if not raw:
        return None, None
    with db.Session() as s:
        row = s.execute(select(Token, User).join(User, User.id == Token.user_id)
                        .where(Token.token_hash == _token_hash(raw))).first()
        if row is None:
            return None, None
        t, u = row
        if kind and t.kind != kind:
            return None, None
        what = "เซสชันนี้" if t.kind == "session" else "รหัสเข้าใช้งาน (token) นี้"
        again = "กรุณาเข้าสู่ระบบใหม่" if t.kind == "session" else "กรุณาขอรหัสใหม่ (POST /api/tokens)"
        if not u.active:
            return None, f"บัญชีผู้ใช้ {u.name} ถูกระงับการใช้งาน กรุณาติดต่อผู้ดูแลระบบ"
        if t.revoked_at is not None:
            return None, f"{what}ถูกยกเลิกแล้วเมื่อ {thai_datetime(t.revoked_at)} น. {again}"
        exp = _utc(t.expires_at)
        if exp is not None and exp <= now():
            return None, f"{what}หมดอายุแล้วเมื่อ {thai_datetime(exp)} น. {again}"
        return {**u.to_dict(), "token_id": t.id, "token_kind": t.kind, "csrf": t.csrf}, None


def resolve_token(db: ReviewDB, raw: str, kind: str | None = None) -> dict | None:
    """The user (with the token's kind and CSRF secret) a token belongs to, or None."""
    return check_token(db, raw, kind)[0]


def _revoke_all(s, user_id: int) -> int:
    return s.execute(update(Token).where(Token.user_id == user_id, Token.revoked_at.is_(None),
                                         Token.expires_at.is_(None) | (Token.expires_at > now()))
                     .values(revoked_at=now())).rowcount


def revoke_token(db: ReviewDB, raw: str) -> bool:
    """Revoke the token given (log out)."""
    with db.Session.begin() as s:
        t = s.scalar(select(Token).where(Token.token_hash == _token_hash(raw)))
        if t is None or t.revoked_at is not None:
            return False
        t.revoked_at = now()
        db._audit(s, t.user_id, "token.revoke", kind=t.kind, token_id=t.id)
        return True


def revoke_token_id(db: ReviewDB, token_id: int, by: dict, owner: str | None = None) -> dict:
    """Revoke one token by its id: one's own, or anyone's for a user who may manage users.
    `owner`, when given, must be the token's user (the CLI and /api/users/{name}/tokens/{id})."""
    with db.Session.begin() as s:
        row = s.execute(select(Token, User).join(User, User.id == Token.user_id)
                        .where(Token.id == token_id)).first()
        mine = row is not None and row[0].user_id == by.get("id")
        if row is None or not (mine or can(by.get("role", ""), "user.manage")) or \
                (owner is not None and row[1].name != owner.strip()):
            # someone else's token is "not found", so ids cannot be probed
            raise NotFound(f"ไม่พบรหัสเข้าใช้งานหมายเลข {token_id}" + (f" ของผู้ใช้ {owner}" if owner else ""))
        t = row[0]
        if t.revoked_at is None:
            t.revoked_at = now()
            db._audit(s, by.get("id"), "token.revoke", kind=t.kind, token_id=t.id, user=t.user_id)
        return t.to_dict()


def revoke_all(db: ReviewDB, name: str, by: int | None = None) -> int:
    """Revoke every session and API token of a user; the number revoked."""
    with db.Session.begin() as s:
        u = _user(s, name)
        n = _revoke_all(s, u.id)
        db._audit(s, by, "token.revoke_all", name=u.name, revoked=n)
        return n


def tokens(db: ReviewDB, name: str | None = None, user_id: int | None = None, everything: bool = False) -> list[dict]:
    """A user's tokens and sessions, newest first: the working ones, or `everything` (also
    revoked and expired ones still remembered). Never the token itself (only its hash is kept)."""
    with db.Session() as s:
        uid = user_id if user_id is not None else _user(s, name).id
        rows = s.scalars(select(Token).where(Token.user_id == uid).order_by(Token.id.desc()))
        out = [t.to_dict() for t in rows]
    return out if everything else [t for t in out if t["state"] == "active"]
