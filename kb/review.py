"""Review state in SQL: assessments, evidence decisions, draft versions, approvals, comments, audit.

One `ReviewDB` per process (the API creates it once at startup, the CLI per command). Every
public method is one transaction and returns plain dicts, so callers never hold ORM objects
across sessions and the same data goes to JSON, templates and the exporter unchanged.

The retrieval side stays unaware of all this: evidence links *copy* the passage, its place and
score when they are suggested, so a decision and the form's appendix survive the document being
re-ingested or deleted. Roles are not checked here (`kb.auth.can` is the one policy; the API
applies it): this layer records who did what, whoever is allowed to call it.
"""
from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, create_engine, event, func, select)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

ROLES = ("viewer", "editor", "reviewer", "admin")
ROLE_TH = {"viewer": "ผู้อ่าน", "editor": "ผู้เขียน", "reviewer": "ผู้ตรวจ", "admin": "ผู้ดูแลระบบ"}
# "returned": a reviewer sent the draft back (send_back); writing a new version makes it drafting.
STATUSES = ("not_started", "drafting", "in_review", "returned", "approved")
EVIDENCE_STATES = ("suggested", "accepted", "rejected")

STATUS_TH = {"not_started": "ยังไม่เริ่ม", "drafting": "กำลังร่าง", "in_review": "รอตรวจ",
             "returned": "ส่งกลับแก้ไข", "approved": "อนุมัติแล้ว"}
EVIDENCE_TH = {"suggested": "แนะนำ", "accepted": "ยอมรับ", "rejected": "ปฏิเสธ"}

# Citation markers as drafts write them: [1] or [1, 3].
CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:      # SQLite hands back naive datetimes; we only ever store UTC
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.isoformat(timespec="seconds")


# --- errors the API turns into status codes ----------------------------------------------------

class ReviewError(Exception):
    """Base: `str(err)` is a message a user can act on (in Thai, as the UI shows it);
    `payload`: what the client needs to act on it (the API returns it beside the message)."""

    def __init__(self, message: str, payload: dict | None = None):
        super().__init__(message)
        self.payload = payload or {}


class NotFound(ReviewError):
    pass


class Invalid(ReviewError):
    pass


class Conflict(ReviewError):
    """The request was based on something that has changed since; `payload` says what is current."""


# --- the schema ---------------------------------------------------------------------------------

class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "active": self.active,
                "created_at": _iso(self.created_at)}


class Token(Base):
    """A browser session or a script's API token. Only a hash is stored, so a leaked
    database does not leak working credentials."""
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))             # session | api
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str | None] = mapped_column(String(64))       # sessions only
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Revoked tokens are kept (until they would have expired, plus a while) so that a script
    # using one is told it was revoked, not just that it is unknown.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict:
        exp = self.expires_at
        if exp is not None and exp.tzinfo is None:
            exp = exp.replace(tzinfo=timezone.utc)
        state = "revoked" if self.revoked_at else "expired" if exp and exp <= now() else "active"
        return {"id": self.id, "user_id": self.user_id, "kind": self.kind, "label": self.label,
                "created_at": _iso(self.created_at), "expires_at": _iso(self.expires_at),
                "revoked_at": _iso(self.revoked_at), "state": state}


class LoginFailure(Base):
    """One failed login, counted against a key: `account:<name>` and `address:<client address>`.
    Kept in the database (not in memory) so every web worker and a restart see the same count."""
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class LoginLock(Base):
    """A key (account or address) refused logins until `until` after too many failures."""
    __tablename__ = "login_locks"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer, default=0)


class Assessment(Base):
    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("agency", "fiscal_year"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    agency: Mapped[str] = mapped_column(String(300))
    fiscal_year: Mapped[int] = mapped_column(Integer)           # พ.ศ.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)

    def to_dict(self) -> dict:
        return {"id": self.id, "agency": self.agency, "fiscal_year": self.fiscal_year,
                "created_at": _iso(self.created_at)}


class CriterionState(Base):
    """Created on first touch: a criterion without a row is simply not started."""
    __tablename__ = "criterion_states"
    __table_args__ = (UniqueConstraint("assessment_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), default="not_started")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Who checks and who signs off this criterion, and by when (a calendar day, no time:
    # the working group plans in days).
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_date: Mapped[date | None] = mapped_column(Date)
    # The store generation the suggestions were computed at: new documents make them stale.
    suggested_generation: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class EvidenceLink(Base):
    __tablename__ = "evidence_links"
    __table_args__ = (UniqueConstraint("assessment_id", "code", "chunk_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    chunk_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(10), default="suggested")
    rank: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    file_name: Mapped[str] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(Text, default="")        # Hit.where(): file · หน้า 3 / ชีต · แถว
    page: Mapped[int | None] = mapped_column(Integer)
    sheet: Mapped[str | None] = mapped_column(String(200))
    rows: Mapped[list | None] = mapped_column(JSON)
    fiscal_year: Mapped[int | None] = mapped_column(Integer)
    passage: Mapped[str] = mapped_column(Text, default="")
    best_sentence: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suggested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class DraftVersion(Base):
    __tablename__ = "draft_versions"
    __table_args__ = (UniqueConstraint("assessment_id", "code", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    base_version: Mapped[int | None] = mapped_column(Integer)   # what an edit started from
    kind: Mapped[str] = mapped_column(String(10))                # generated | edited
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    sources: Mapped[list] = mapped_column(JSON, default=list)    # Draft.sources, numbered
    sentences: Mapped[list] = mapped_column(JSON, default=list)  # text, citations, verdict, problems
    drafter: Mapped[str] = mapped_column(String(50), default="")
    abstained: Mapped[bool] = mapped_column(Boolean, default=False)
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    previous_answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class AuditEvent(Base):
    """Append-only: every change, by whom, with enough detail to reconstruct it."""
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"))
    code: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Upload(Base):
    """A document uploaded through the web app, and how its ingestion went (the store only
    knows documents that made it; the failures are kept here)."""
    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(500))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    state: Mapped[str] = mapped_column(String(10), default="queued")   # queued|running|done|failed|cancelled
    error: Mapped[str] = mapped_column(Text, default="")
    chunks: Mapped[int | None] = mapped_column(Integer)
    job_id: Mapped[str] = mapped_column(String(40), default="")

    def to_dict(self) -> dict:
        return {"id": self.id, "file_name": self.file_name, "path": self.path, "size": self.size,
                "uploaded_at": _iso(self.uploaded_at), "state": self.state, "error": self.error,
                "chunks": self.chunks, "job_id": self.job_id}


class JobRecord(Base):
    """A background job (ingest, suggest) as both the web app and the worker see it: the worker
    writes progress here, the web app polls it (kb/jobs.py owns the logic)."""
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))                        # ingest | suggest
    state: Mapped[str] = mapped_column(String(10), default="queued")    # queued|running|done|failed|cancelled
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    current: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    errors: Mapped[list] = mapped_column(JSON, default=list)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    params: Mapped[dict] = mapped_column(JSON, default=dict)            # what to do (upload ids, criteria)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user_name: Mapped[str | None] = mapped_column(String(100))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str] = mapped_column(String(200), default="")        # host:pid running it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- connecting ---------------------------------------------------------------------------------

def database_url(data_dir: str | Path) -> str:
    """KB_DATABASE_URL, or a SQLite file beside the store. A bare postgresql:// URL is sent to
    psycopg 3, the driver we install (SQLAlchemy would otherwise look for psycopg2)."""
    url = os.environ.get("KB_DATABASE_URL") or f"sqlite:///{Path(data_dir) / 'review.sqlite'}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    return url


def _engine(url: str):
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # SQLite leaves foreign keys off unless asked, per connection
            cur = conn.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")   # readers do not block the writer
            cur.close()
        return engine
    return create_engine(url, pool_pre_ping=True)


class ReviewDB:
    def __init__(self, url: str):
        self.url = url
        self.engine = _engine(url)
        from kb.migrations import upgrade     # the schema is Alembic's: brought to head at open
        upgrade(self.engine)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()

    def _audit(self, s: Session, user_id: int | None, action: str, assessment_id: int | None = None,
               code: str | None = None, **detail) -> None:
        s.add(AuditEvent(user_id=user_id, assessment_id=assessment_id, code=code, action=action,
                         detail=detail))

    # --- users (password and token logic lives in kb.auth) --------------------------------------

    def user_names(self, s: Session) -> dict[int, str]:
        return dict(s.execute(select(User.id, User.name)).all())

    def users(self) -> list[dict]:
        with self.Session() as s:
            return [u.to_dict() for u in s.scalars(select(User).order_by(User.name))]

    # --- assessments -----------------------------------------------------------------------------

    def create_assessment(self, agency: str, fiscal_year: int, user_id: int | None = None) -> dict:
        agency = " ".join(agency.split())
        if not agency:
            raise Invalid("ต้องระบุชื่อหน่วยงาน")
        if not 2500 <= fiscal_year <= 2700:
            raise Invalid(f"ปีงบประมาณต้องเป็นปี พ.ศ. (เช่น 2567) ไม่ใช่ {fiscal_year}")
        with self.Session.begin() as s:
            if s.scalar(select(Assessment).where(Assessment.agency == agency,
                                                 Assessment.fiscal_year == fiscal_year)):
                raise Conflict(f"มีแบบประเมินของ {agency} ปี {fiscal_year} อยู่แล้ว")
            a = Assessment(agency=agency, fiscal_year=fiscal_year)
            s.add(a)
            s.flush()
            self._audit(s, user_id, "assessment.create", a.id, agency=agency, fiscal_year=fiscal_year)
            return a.to_dict()

    def assessments(self) -> list[dict]:
        with self.Session() as s:
            rows = s.scalars(select(Assessment).order_by(Assessment.fiscal_year.desc(), Assessment.id))
            return [a.to_dict() for a in rows]

    def assessment(self, assessment_id: int) -> dict:
        with self.Session() as s:
            return self._assessment(s, assessment_id).to_dict()

    def _assessment(self, s: Session, assessment_id: int) -> Assessment:
        a = s.get(Assessment, assessment_id)
        if a is None:
            raise NotFound(f"ไม่พบแบบประเมินหมายเลข {assessment_id}")
        return a

    def previous_assessment(self, assessment_id: int) -> dict | None:
        """Same agency, the fiscal year before: where the previous year's answers live."""
        with self.Session() as s:
            a = self._assessment(s, assessment_id)
            prev = s.scalar(select(Assessment).where(Assessment.agency == a.agency,
                                                     Assessment.fiscal_year == a.fiscal_year - 1))
            return prev.to_dict() if prev else None

    # --- per-criterion state -----------------------------------------------------------------

    def _state(self, s: Session, assessment_id: int, code: str, create: bool = True) -> CriterionState | None:
        st = s.scalar(select(CriterionState).where(CriterionState.assessment_id == assessment_id,
                                                   CriterionState.code == code))
        if st is None and create:
            self._assessment(s, assessment_id)
            st = CriterionState(assessment_id=assessment_id, code=code, status="not_started")
            s.add(st)
            s.flush()
        return st

    def _set_status(self, s: Session, st: CriterionState, status: str, user_id: int | None) -> None:
        if st.status != status:
            self._audit(s, user_id, "status.change", st.assessment_id, st.code,
                        before=st.status, after=status)
            st.status = status
        st.updated_at = now()

    def overview(self, assessment_id: int) -> dict[str, dict]:
        """code → status, owner and evidence counts, for every criterion touched so far."""
        with self.Session() as s:
            self._assessment(s, assessment_id)
            names = self.user_names(s)
            out: dict[str, dict] = {}

            def entry(code: str) -> dict:
                return out.setdefault(code, {"status": "not_started", "owner": None, "reviewer": None,
                                             "approver": None, "due": None, "suggested": 0,
                                             "accepted": 0, "rejected": 0, "versions": 0})
            for st in s.scalars(select(CriterionState).where(CriterionState.assessment_id == assessment_id)):
                e = entry(st.code)
                e["status"] = st.status
                e.update(_assignment_dict(st, names))
            counts = s.execute(select(EvidenceLink.code, EvidenceLink.state, func.count())
                               .where(EvidenceLink.assessment_id == assessment_id)
                               .group_by(EvidenceLink.code, EvidenceLink.state))
            for code, state, n in counts:
                entry(code)[state] = n
            versions = s.execute(select(DraftVersion.code, func.max(DraftVersion.version))
                                 .where(DraftVersion.assessment_id == assessment_id)
                                 .group_by(DraftVersion.code))
            for code, n in versions:
                entry(code)["versions"] = n
            return out

    def criterion(self, assessment_id: int, code: str) -> dict:
        """Everything the criterion page shows, except the catalogue text."""
        with self.Session() as s:
            self._assessment(s, assessment_id)
            names = self.user_names(s)
            st = self._state(s, assessment_id, code, create=False)
            links = s.scalars(select(EvidenceLink).where(EvidenceLink.assessment_id == assessment_id,
                                                         EvidenceLink.code == code)
                              .order_by(EvidenceLink.rank, EvidenceLink.id)).all()
            versions = s.scalars(select(DraftVersion).where(DraftVersion.assessment_id == assessment_id,
                                                            DraftVersion.code == code)
                                 .order_by(DraftVersion.version)).all()
            comments = s.scalars(select(Comment).where(Comment.assessment_id == assessment_id,
                                                       Comment.code == code).order_by(Comment.id)).all()
            approved = _last_approved(versions)
            return {
                "code": code,
                "status": st.status if st else "not_started",
                # The answer the form exports: the last approved version, even while a newer
                # draft is being worked on (None until something is approved).
                "approved_version": approved.version if approved else None,
                "owner": names.get(st.owner_id) if st else None,
                "assignment": _assignment_dict(st, names) if st else
                {"owner": None, "reviewer": None, "approver": None, "due": None},
                "suggested_generation": st.suggested_generation if st else None,
                "evidence": [_link_dict(link, names) for link in links],
                "versions": [_version_dict(v, names) for v in versions],
                "comments": [{"id": c.id, "author": names.get(c.author_id), "text": c.text,
                              "created_at": _iso(c.created_at)} for c in comments],
            }

    # --- evidence ----------------------------------------------------------------------------

    def record_suggestions(self, assessment_id: int, code: str, documents: list,
                           generation: int | None, user_id: int | None = None) -> int:
        """Store what retrieval found (kb.evidence.DocumentEvidence list), keeping decisions.

        Undecided suggestions that retrieval no longer returns are dropped; accepted and
        rejected links always stay, with the text as it was when they were decided."""
        found: dict[str, tuple[int, Any, Any]] = {}
        rank = 0
        for doc in documents:
            for hit in doc.passages:
                if hit.chunk_id not in found:
                    rank += 1
                    found[hit.chunk_id] = (rank, doc, hit)
        with self.Session.begin() as s:
            st = self._state(s, assessment_id, code)
            existing = {link.chunk_id: link for link in s.scalars(
                select(EvidenceLink).where(EvidenceLink.assessment_id == assessment_id,
                                           EvidenceLink.code == code))}
            for cid, link in existing.items():
                if link.state == "suggested" and cid not in found:
                    s.delete(link)
            for cid, (rank, doc, hit) in found.items():
                link = existing.get(cid)
                if link is None:
                    link = EvidenceLink(assessment_id=assessment_id, code=code, chunk_id=cid)
                    s.add(link)
                elif link.state != "suggested":
                    link.rank, link.score = rank, float(doc.score)   # keep its decided text
                    continue
                link.rank, link.score = rank, float(doc.score)
                link.file_name, link.title, link.place = hit.file_name, hit.title, hit.where()
                link.page, link.sheet = hit.page, hit.sheet
                link.rows = list(hit.rows) if hit.rows else None
                link.fiscal_year = hit.fiscal_year
                link.passage, link.best_sentence = hit.text, hit.best_sentence
                link.suggested_at = now()
            st.suggested_generation = generation
            self._audit(s, user_id, "evidence.suggest", assessment_id, code, passages=len(found),
                        generation=generation)
            return len(found)

    @staticmethod
    def _link(s: Session, assessment_id: int, link_id: int) -> EvidenceLink:
        link = s.get(EvidenceLink, link_id)
        if link is None or link.assessment_id != assessment_id:
            raise NotFound(f"ไม่พบหลักฐานหมายเลข {link_id}")
        return link

    def decide_evidence(self, assessment_id: int, link_id: int, state: str, user_id: int,
                        note: str = "") -> dict:
        if state not in EVIDENCE_STATES:
            raise Invalid(f"สถานะหลักฐานต้องเป็น {', '.join(EVIDENCE_STATES)}")
        with self.Session.begin() as s:
            link = self._link(s, assessment_id, link_id)
            before = link.state
            link.state, link.note = state, note or link.note
            link.decided_by_id = user_id if state != "suggested" else None
            link.decided_at = now() if state != "suggested" else None
            st = self._state(s, assessment_id, link.code)
            if st.status == "not_started":
                self._set_status(s, st, "drafting", user_id)
            self._audit(s, user_id, f"evidence.{state}", assessment_id, link.code, link_id=link.id,
                        chunk_id=link.chunk_id, file_name=link.file_name, before=before, note=note)
            s.flush()
            return _link_dict(link, self.user_names(s))

    def evidence_link(self, assessment_id: int, link_id: int) -> dict:
        with self.Session() as s:
            link = self._link(s, assessment_id, link_id)
            return _link_dict(link, self.user_names(s))

    def retext_link(self, assessment_id: int, link_id: int, hit, user_id: int, note: str = "") -> dict:
        """Accept a link anew with the text its passage holds now (`hit`: kb.retrieve.Hit of
        the same chunk), after its document changed; the text that was accepted before is
        kept in the audit log."""
        with self.Session.begin() as s:
            link = self._link(s, assessment_id, link_id)
            before = link.passage
            link.place, link.page, link.sheet = hit.where(), hit.page, hit.sheet
            link.rows = list(hit.rows) if hit.rows else None
            link.fiscal_year, link.passage = hit.fiscal_year, hit.text
            if link.best_sentence not in hit.text:
                link.best_sentence = ""
            link.state, link.note = "accepted", note or link.note
            link.decided_by_id, link.decided_at = user_id, now()
            self._audit(s, user_id, "evidence.accept_new_text", assessment_id, link.code, link_id=link.id,
                        chunk_id=link.chunk_id, file_name=link.file_name, before_text=before)
            s.flush()
            return _link_dict(link, self.user_names(s))

    def accepted_chunk_ids(self, assessment_id: int, code: str) -> list[str]:
        with self.Session() as s:
            return list(s.scalars(select(EvidenceLink.chunk_id).where(
                EvidenceLink.assessment_id == assessment_id, EvidenceLink.code == code,
                EvidenceLink.state == "accepted").order_by(EvidenceLink.rank)))

    # --- drafts ------------------------------------------------------------------------------

    def latest_version(self, assessment_id: int, code: str) -> dict | None:
        with self.Session() as s:
            v = self._latest(s, assessment_id, code)
            return _version_dict(v, self.user_names(s)) if v else None

    def _latest(self, s: Session, assessment_id: int, code: str) -> DraftVersion | None:
        return s.scalar(select(DraftVersion).where(DraftVersion.assessment_id == assessment_id,
                                                   DraftVersion.code == code)
                        .order_by(DraftVersion.version.desc()).limit(1))

    def _latest_read(self, s: Session, assessment_id: int, code: str, version: int, act: str) -> DraftVersion:
        """The latest version, when it is the one the user read (`act`: what they are doing to it,
        for the message); a newer one means they read the wrong text."""
        latest = self._latest(s, assessment_id, code)
        if latest is None:
            raise Invalid(f"ยังไม่มีร่างคำตอบ{'ให้' + act if act else ''}")
        if latest.version != version:
            raise Conflict(f"ร่างมีฉบับใหม่กว่า (ฉบับที่ {latest.version}) กรุณาอ่านฉบับล่าสุดก่อน{act}",
                           {"current_version": latest.version,
                            "current": _version_dict(latest, self.user_names(s))})
        return latest

    def add_version(self, assessment_id: int, code: str, user_id: int, *, kind: str, text: str,
                    sources: list, sentences: list, drafter: str = "", abstained: bool = False,
                    warnings: list | None = None, previous_answer: str | None = None,
                    base_version: int | None = None, check_base: bool = False) -> dict:
        """A new draft version. With `check_base`, the edit must start from the latest version:
        otherwise Conflict, carrying the current version and the text that was sent, so the
        writer loses nothing and can merge."""
        try:
            with self.Session.begin() as s:
                st = self._state(s, assessment_id, code)
                latest = self._latest(s, assessment_id, code)
                latest_n = latest.version if latest else 0
                if check_base and (base_version or 0) != latest_n:
                    raise _Stale(latest_n, _version_dict(latest, self.user_names(s)) if latest else None)
                v = DraftVersion(assessment_id=assessment_id, code=code, version=latest_n + 1,
                                 base_version=base_version, kind=kind, author_id=user_id, text=text,
                                 sources=sources, sentences=sentences, drafter=drafter,
                                 abstained=abstained, warnings=warnings or [],
                                 previous_answer=previous_answer)
                s.add(v)
                if st.status == "approved" and kind == "generated":
                    # A machine draft is a proposal beside the approved answer, not a change to
                    # it: the criterion stays approved until someone takes the draft up (take_up).
                    pass
                elif st.status in ("not_started", "approved", "in_review", "returned"):
                    # a changed text is no longer the text that was sent for review; an edit of an
                    # approved answer starts a new cycle (the approved version stays the answer
                    # until another is approved: approved_answers)
                    self._set_status(s, st, "drafting", user_id)
                self._audit(s, user_id, f"draft.{kind}", assessment_id, code, version=v.version,
                            base_version=base_version, drafter=drafter, text=text)
                s.flush()
                return _version_dict(v, self.user_names(s))
        except _Stale as stale:
            # The conflict is audited (with the text) in its own transaction, then reported.
            with self.Session.begin() as s:
                self._audit(s, user_id, "draft.conflict", assessment_id, code,
                            base_version=base_version, latest=stale.latest, text=text)
            raise Conflict(f"ร่างนี้ถูกแก้ไขไปแล้ว (ฉบับที่ {stale.latest}) หลังจากที่คุณเริ่มแก้จากฉบับที่ "
                           f"{base_version or 0}: ข้อความของคุณยังอยู่ กรุณารวมการแก้ไขแล้วบันทึกอีกครั้ง",
                           {"current_version": stale.latest, "current": stale.current,
                            "your_text": text, "your_base_version": base_version}) from None
        except IntegrityError:
            # Two edits from the same base raced for the same version number; the loser is stale.
            current = self.latest_version(assessment_id, code)
            raise Conflict("มีผู้อื่นบันทึกร่างฉบับใหม่พร้อมกัน ข้อความของคุณยังอยู่ กรุณาบันทึกอีกครั้ง",
                           {"current_version": current["version"] if current else 0, "current": current,
                            "your_text": text, "your_base_version": base_version}) from None

    def submit(self, assessment_id: int, code: str, user_id: int) -> dict:
        with self.Session.begin() as s:
            st = self._state(s, assessment_id, code)
            latest = self._latest(s, assessment_id, code)
            if latest is None:
                raise Invalid("ยังไม่มีร่างคำตอบให้ส่งตรวจ")
            if st.status == "approved":
                if latest.approved_at is None:
                    raise Invalid(f"เกณฑ์นี้อนุมัติแล้ว ร่างฉบับที่ {latest.version} ยังไม่แทนคำตอบที่อนุมัติ: "
                                  "กด “ใช้ร่างนี้แก้ไขต่อ” ก่อนส่งตรวจ")
                raise Invalid("เกณฑ์นี้อนุมัติแล้ว")
            self._set_status(s, st, "in_review", user_id)
            return {"code": code, "status": st.status}

    def take_up(self, assessment_id: int, code: str, version: int, user_id: int) -> dict:
        """Start the review cycle again from a machine draft that sits beside an approved answer
        (add_version leaves such a criterion approved). Only the status changes: the approved
        version stays the exported answer until the new one is submitted and approved."""
        with self.Session.begin() as s:
            st = self._state(s, assessment_id, code)
            latest = self._latest_read(s, assessment_id, code, version, "")
            if st.status != "approved" or latest.approved_at is not None:
                raise Invalid("ไม่มีร่างใหม่ที่รออยู่ข้างคำตอบที่อนุมัติแล้ว: ร่างล่าสุดอยู่ในขั้นตอนแก้ไขตามปกติ")
            self._set_status(s, st, "drafting", user_id)
            self._audit(s, user_id, "draft.take_up", assessment_id, code, version=version)
            return {"code": code, "status": st.status, "version": version}

    def approve(self, assessment_id: int, code: str, version: int, user_id: int, note: str = "",
                confirmations: dict[int, str] | None = None) -> dict:
        """Approve exactly the version the reviewer read; a newer one means they read the wrong text.
        Only a draft sent for review, never by the person who wrote that edit, and never while a
        sentence is flagged by the verifier unless the approver confirms each flag with a reason
        (`confirmations`: index of the sentence in the version → reason; kept in the audit log)."""
        confirmations = {int(k): " ".join(str(v).split()) for k, v in (confirmations or {}).items()}
        with self.Session.begin() as s:
            st = self._state(s, assessment_id, code)
            latest = self._latest_read(s, assessment_id, code, version, "อนุมัติ")
            if st.status != "in_review":
                raise Invalid(f"อนุมัติได้เฉพาะร่างที่ส่งตรวจแล้ว (สถานะ “{STATUS_TH['in_review']}”) "
                              f"เกณฑ์นี้อยู่ในสถานะ “{STATUS_TH.get(st.status, st.status)}”")
            if latest.kind == "edited" and latest.author_id == user_id:
                raise Invalid("ผู้แก้ไขร่างฉบับนี้อนุมัติเองไม่ได้ ต้องให้ผู้ตรวจคนอื่นอนุมัติ")
            flagged = flagged_sentences(latest.sentences)
            unconfirmed = [i for i in flagged if not confirmations.get(i)]
            if unconfirmed:
                raise Invalid(f"ร่างนี้มี {len(flagged)} ประโยคที่ระบบตรวจพบปัญหา (เช่น ตัวเลขหรือชื่อที่ไม่พบในแหล่งอ้างอิง) "
                              f"ยังไม่ได้ยืนยัน {len(unconfirmed)} ประโยค: ระบุเหตุผลที่ยืนยันทีละประโยค "
                              "หรือแก้ไขร่างก่อนอนุมัติ", {"flagged": flagged, "unconfirmed": unconfirmed})
            latest.approved_by_id, latest.approved_at = user_id, now()
            self._set_status(s, st, "approved", user_id)
            confirmed = [{"sentence": i, "text": (latest.sentences[i] or {}).get("text", ""),
                          "problems": (latest.sentences[i] or {}).get("problems", []),
                          "reason": confirmations[i]} for i in flagged]
            self._audit(s, user_id, "draft.approve", assessment_id, code, version=version, note=note,
                        confirmed_flags=confirmed)
            if note:
                s.add(Comment(assessment_id=assessment_id, code=code, author_id=user_id, text=note))
            return {"code": code, "status": st.status, "version": version}

    def send_back(self, assessment_id: int, code: str, user_id: int, note: str = "") -> dict:
        """A reviewer returns the criterion to the writers (with a reason, as a comment)."""
        with self.Session.begin() as s:
            st = self._state(s, assessment_id, code)
            self._set_status(s, st, "returned", user_id)
            if note:
                s.add(Comment(assessment_id=assessment_id, code=code, author_id=user_id, text=note))
            self._audit(s, user_id, "review.return", assessment_id, code, note=note)
            return {"code": code, "status": st.status}

    def set_owner(self, assessment_id: int, code: str, owner_name: str | None, user_id: int) -> dict:
        with self.Session.begin() as s:
            st = self._state(s, assessment_id, code)
            owner = None
            if owner_name:
                owner = s.scalar(select(User).where(User.name == owner_name))
                if owner is None:
                    raise NotFound(f"ไม่พบผู้ใช้ชื่อ {owner_name}")
            self._audit(s, user_id, "owner.change", assessment_id, code,
                        before=self.user_names(s).get(st.owner_id), after=owner_name)
            st.owner_id = owner.id if owner else None
            st.updated_at = now()
            return {"code": code, "owner": owner_name}

    # --- assignments: owner / reviewer / approver / due date ---------------------------------

    def _assignee(self, s: Session, name: str, field: str, min_role: str) -> User:
        user = s.scalar(select(User).where(User.name == name))
        label = ASSIGN_FIELDS_TH[field]
        if user is None:
            raise NotFound(f"{label}: ไม่พบผู้ใช้ชื่อ “{name}”", {"field": field})
        if not user.active:
            raise Invalid(f"{label}: ผู้ใช้ “{name}” ถูกปิดการใช้งาน มอบหมายงานไม่ได้", {"field": field})
        if ROLES.index(user.role) < ROLES.index(min_role):
            raise Invalid(f"{label}: ผู้ใช้ “{name}” มีบทบาท{ROLE_TH.get(user.role, user.role)} "
                          f"ต้องมีบทบาท{ROLE_TH[min_role]}ขึ้นไป", {"field": field})
        return user

    def assign(self, assessment_id: int, codes: list[str], user_id: int | None, **fields) -> list[dict]:
        """Set owner / reviewer / approver (user names) and due (a date) on each of `codes`, in
        one transaction: one bad value and nothing changes. A field left out is kept; None or
        "" clears it. Every change is audited per criterion. Codes are checked by the caller
        (kb.workflow.assign) against the catalogue, which this layer does not know."""
        from kb.thaidate import today
        unknown = set(fields) - set(ASSIGN_FIELDS_TH)
        if unknown:
            raise Invalid(f"ไม่รู้จักช่อง {', '.join(sorted(unknown))}")
        if not codes:
            raise Invalid("ไม่มีเกณฑ์ให้มอบหมาย")
        with self.Session.begin() as s:
            self._assessment(s, assessment_id)
            resolved: dict[str, Any] = {}
            for field in ("owner", "reviewer", "approver"):
                if field in fields:
                    name = (fields[field] or "").strip()
                    resolved[field] = self._assignee(s, name, field, ASSIGN_MIN_ROLE[field]).id if name else None
            if "due" in fields:
                due = fields["due"] or None
                if due is not None and not isinstance(due, date):
                    raise Invalid(f"{ASSIGN_FIELDS_TH['due']}: ต้องเป็นวันที่", {"field": "due"})
                if due is not None and due < today():
                    from kb.thaidate import thai_date
                    raise Invalid(f"{ASSIGN_FIELDS_TH['due']}: วันที่ {thai_date(due)} ผ่านไปแล้ว "
                                  f"(วันนี้ {thai_date(today())})", {"field": "due"})
                resolved["due"] = due
            names = self.user_names(s)
            out = []
            for code in codes:
                st = self._state(s, assessment_id, code)
                before = _assignment_dict(st, names)
                for field, value in resolved.items():
                    setattr(st, ASSIGN_COLUMNS[field], value)
                after = _assignment_dict(st, names)
                changed = {f: [before[f], after[f]] for f in ASSIGN_FIELDS_TH if before[f] != after[f]}
                if changed:
                    st.updated_at = now()
                    self._audit(s, user_id, "assignment.change", assessment_id, code, changes=changed)
                out.append({"code": code, **after, "status": st.status})
            return out

    def assignments(self, assessment_id: int) -> dict[str, dict]:
        """code → owner, reviewer, approver, due (ISO) and status, for every criterion touched."""
        with self.Session() as s:
            self._assessment(s, assessment_id)
            names = self.user_names(s)
            return {st.code: {**_assignment_dict(st, names), "status": st.status}
                    for st in s.scalars(select(CriterionState)
                                        .where(CriterionState.assessment_id == assessment_id))}

    def add_comment(self, assessment_id: int, code: str, text: str, user_id: int) -> dict:
        text = text.strip()
        if not text:
            raise Invalid("ความเห็นว่างเปล่า")
        with self.Session.begin() as s:
            self._state(s, assessment_id, code)
            c = Comment(assessment_id=assessment_id, code=code, author_id=user_id, text=text)
            s.add(c)
            s.flush()
            self._audit(s, user_id, "comment.add", assessment_id, code, comment_id=c.id, text=text)
            return {"id": c.id, "author": self.user_names(s).get(user_id), "text": c.text,
                    "created_at": _iso(c.created_at)}

    def approved_answers(self, assessment_id: int) -> dict[str, dict]:
        """code → the last approved version (the form's ☑), whatever the criterion's status.

        Not filtered by status on purpose: a new machine draft, an edit, a send-back or a draft
        in review are work on the *next* answer; until that one is approved, the answer handed
        in is still the one a reviewer approved, and the form must not lose it."""
        with self.Session() as s:
            names = self.user_names(s)
            out = {}
            for v in s.scalars(select(DraftVersion).where(DraftVersion.assessment_id == assessment_id,
                                                          DraftVersion.approved_at.is_not(None))
                               .order_by(DraftVersion.version)):
                out[v.code] = _version_dict(v, names)     # the last approved version wins
            return out

    def latest_versions(self, assessment_id: int) -> dict[str, dict]:
        with self.Session() as s:
            names = self.user_names(s)
            out = {}
            for v in s.scalars(select(DraftVersion).where(DraftVersion.assessment_id == assessment_id)
                               .order_by(DraftVersion.version)):
                out[v.code] = _version_dict(v, names)
            return out

    # --- uploads and audit ---------------------------------------------------------------------

    def add_upload(self, file_name: str, path: str, size: int, user_id: int, job_id: str) -> dict:
        with self.Session.begin() as s:
            u = Upload(file_name=file_name, path=path, size=size, uploaded_by_id=user_id, job_id=job_id)
            s.add(u)
            s.flush()
            self._audit(s, user_id, "document.upload", file_name=file_name, size=size, job_id=job_id)
            return u.to_dict()

    def update_upload(self, upload_id: int, **fields) -> None:
        with self.Session.begin() as s:
            u = s.get(Upload, upload_id)
            if u is not None:
                for k, v in fields.items():
                    setattr(u, k, v)

    def uploads(self) -> list[dict]:
        with self.Session() as s:
            names = self.user_names(s)
            return [{**u.to_dict(), "uploaded_by": names.get(u.uploaded_by_id)}
                    for u in s.scalars(select(Upload).order_by(Upload.id.desc()))]

    def forget_uploads(self, paths: list[str], user_id: int) -> None:
        """The uploads of one document, recorded by its key or (older rows) its absolute path."""
        with self.Session.begin() as s:
            for u in s.scalars(select(Upload).where(Upload.path.in_(paths))):
                s.delete(u)
            self._audit(s, user_id, "document.delete", path=paths[0])

    def confirmed_flags(self, assessment_id: int, code: str, version: int) -> list[dict]:
        """The flagged sentences an approver of this version confirmed, with the reason and who."""
        with self.Session() as s:
            names = self.user_names(s)
            for e in s.scalars(select(AuditEvent).where(
                    AuditEvent.assessment_id == assessment_id, AuditEvent.code == code,
                    AuditEvent.action == "draft.approve").order_by(AuditEvent.id.desc())):
                if (e.detail or {}).get("version") == version:
                    return [{**f, "by": names.get(e.user_id)} for f in e.detail.get("confirmed_flags", [])]
        return []

    def audit(self, assessment_id: int | None = None, code: str | None = None, limit: int = 200) -> list[dict]:
        with self.Session() as s:
            names = self.user_names(s)
            q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
            if assessment_id is not None:
                q = q.where(AuditEvent.assessment_id == assessment_id)
            if code is not None:
                q = q.where(AuditEvent.code == code)
            return [{"id": e.id, "at": _iso(e.at), "user": names.get(e.user_id), "action": e.action,
                     "assessment_id": e.assessment_id, "code": e.code, "detail": e.detail}
                    for e in s.scalars(q)]


class _Stale(Exception):
    def __init__(self, latest: int, current: dict | None):
        self.latest, self.current = latest, current


def _last_approved(versions: list[DraftVersion]) -> DraftVersion | None:
    """The approved answer among a criterion's versions (in version order), as approved_answers picks it."""
    return next((v for v in reversed(versions) if v.approved_at is not None), None)


def flagged_sentences(sentences: list) -> list[int]:
    """Indexes of the sentences of a version that the verifier did not accept."""
    return [i for i, x in enumerate(sentences or []) if (x or {}).get("verdict", "supported") != "supported"]


ASSIGN_FIELDS_TH = {"owner": "ผู้รับผิดชอบ", "reviewer": "ผู้ตรวจ", "approver": "ผู้อนุมัติ",
                    "due": "กำหนดส่ง"}
ASSIGN_COLUMNS = {"owner": "owner_id", "reviewer": "reviewer_id", "approver": "approver_id",
                  "due": "due_date"}
# An owner writes the answer; reviewing and approving are what kb.auth lets a reviewer do.
ASSIGN_MIN_ROLE = {"owner": "editor", "reviewer": "reviewer", "approver": "reviewer"}


def _assignment_dict(st: CriterionState, names: dict[int, str]) -> dict:
    return {"owner": names.get(st.owner_id), "reviewer": names.get(st.reviewer_id),
            "approver": names.get(st.approver_id),
            "due": st.due_date.isoformat() if st.due_date else None}


def _link_dict(link: EvidenceLink, names: dict[int, str]) -> dict:
    return {"id": link.id, "code": link.code, "chunk_id": link.chunk_id, "state": link.state,
            "rank": link.rank, "score": round(link.score, 6), "file_name": link.file_name,
            "title": link.title, "where": link.place, "page": link.page, "sheet": link.sheet,
            "rows": link.rows, "fiscal_year": link.fiscal_year, "passage": link.passage,
            "best_sentence": link.best_sentence, "note": link.note,
            "decided_by": names.get(link.decided_by_id), "decided_at": _iso(link.decided_at)}


def _version_dict(v: DraftVersion, names: dict[int, str]) -> dict:
    return {"version": v.version, "base_version": v.base_version, "kind": v.kind,
            "author": names.get(v.author_id), "text": v.text, "sources": v.sources,
            "sentences": v.sentences, "drafter": v.drafter, "abstained": v.abstained,
            "warnings": v.warnings, "previous_answer": v.previous_answer,
            "created_at": _iso(v.created_at), "approved_by": names.get(v.approved_by_id),
            "approved_at": _iso(v.approved_at)}
