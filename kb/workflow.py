"""The reviewer's workflow: KnowledgeBase (retrieval, drafting) meets ReviewDB (decisions).

Kept apart from both so that each stays ignorant of the other: retrieval never hears of
assessments, the review tables never run a model. The API and the CLI call these functions.
"""
from __future__ import annotations

import re
from typing import Callable

from kb.review import STATUSES, Invalid, NotFound, ReviewDB

SUGGESTIONS_PER_CRITERION = 5      # documents; each brings up to 3 passages


def _criterion_code(kb, code: str) -> str:
    try:
        return kb.catalogue.get(code).code
    except KeyError as err:
        raise NotFound(f"ไม่พบเกณฑ์รหัส {code} ในแบบฟอร์ม") from err


# --- evidence -----------------------------------------------------------------------------------

def suggest(kb, db: ReviewDB, assessment_id: int, code: str, user_id: int | None = None,
            force: bool = False, k: int = SUGGESTIONS_PER_CRITERION) -> bool:
    """(Re)compute suggested evidence when the store changed since the last time (or when
    forced). True when retrieval ran. Decisions already taken are kept.

    Called by the worker (after an ingest job) and by the explicit refresh actions, never by
    a page view. A refresh racing the worker on the same criterion may lose the insert race on
    the unique (assessment, criterion, passage) key: the second attempt finds the other
    writer's rows and updates them."""
    from sqlalchemy.exc import IntegrityError
    code = _criterion_code(kb, code)
    generation = kb.store.generation()
    if not force and db.criterion(assessment_id, code)["suggested_generation"] == generation:
        return False
    docs = kb.evidence(code, k=k)
    try:
        db.record_suggestions(assessment_id, code, docs, generation, user_id)
    except IntegrityError:
        db.record_suggestions(assessment_id, code, docs, generation, user_id)
    return True


def _squash(text: str | None) -> str:
    return "".join((text or "").split())


def mark_changed(kb, links: list[dict]) -> list[dict]:
    """The links with `changed` set on each accepted one whose document no longer holds the
    text that was accepted (a new version of the file keeps its passages' ids), and
    `current_passage`: the text there now (None: the passage is gone). Drafts leave such
    links out until a reviewer accepts the new text (accept_current); layout (line breaks,
    spaces) does not count as a change."""
    accepted = [link for link in links if link["state"] == "accepted"]
    now = {h.chunk_id: h.text for h in kb.retriever.hits([(link["chunk_id"], 1.0) for link in accepted], {})} \
        if accepted else {}
    for link in links:
        current = now.get(link["chunk_id"])
        link["changed"] = link["state"] == "accepted" and _squash(current) != _squash(link["passage"])
        link["current_passage"] = current if link["changed"] else None
    return links


def accept_current(kb, db: ReviewDB, assessment_id: int, link_id: int, user_id: int, note: str = "") -> dict:
    """Accept the text a changed link's passage holds now (the reviewer read it)."""
    link = db.evidence_link(assessment_id, link_id)
    hits = kb.retriever.hits([(link["chunk_id"], 1.0)], {})
    if not hits:
        raise Invalid(f"ข้อความนี้ไม่มีในเอกสาร {link['file_name']} ฉบับปัจจุบันแล้ว ยอมรับข้อความใหม่ไม่ได้")
    return mark_changed(kb, [db.retext_link(assessment_id, link_id, hits[0], user_id, note)])[0]


def suggestions_stale(kb, state: dict) -> bool:
    """Whether the store changed since this criterion's suggestions were computed
    (`state`: ReviewDB.criterion); the page then says they are being updated."""
    return state.get("suggested_generation") != kb.store.generation()


# --- drafts -------------------------------------------------------------------------------------

def default_drafter() -> Callable:
    # Imported on use: drafting pulls in the verifier and, for the LLM drafter, HTTP clients,
    # none of which the rest of the review service needs.
    from kb.draft import draft_criterion
    return draft_criterion


def generate(kb, db: ReviewDB, assessment_id: int, code: str, user_id: int,
             drafter: str = "extractive", draft_fn: Callable | None = None) -> dict:
    """A new draft version from the drafter, fed with the accepted evidence (or, when none is
    accepted yet, with what the drafter retrieves itself)."""
    code = _criterion_code(kb, code)
    assessment = db.assessment(assessment_id)
    # accepted evidence whose document changed since is left out: nobody accepted its new text
    changed = [link for link in mark_changed(kb, db.criterion(assessment_id, code)["evidence"])
               if link["changed"]]
    accepted = [cid for cid in db.accepted_chunk_ids(assessment_id, code)
                if cid not in {link["chunk_id"] for link in changed}]
    draft = (draft_fn or default_drafter())(kb, code, accepted_chunk_ids=accepted or None,
                                             drafter=drafter, year=assessment["fiscal_year"])
    d = draft.to_dict()
    warnings = list(d.get("warnings", []))
    if changed:
        warnings.append("ไม่ได้ใช้หลักฐานที่ยอมรับไว้ซึ่งเอกสารเปลี่ยนไปหลังการยอมรับ (ต้องตรวจและยอมรับข้อความใหม่ก่อน): "
                        + ", ".join(f"{link['file_name']} · {link['where']}" for link in changed))
    return db.add_version(assessment_id, code, user_id, kind="generated", text=d["text"],
                          sources=d.get("sources", []), sentences=d.get("sentences", []),
                          drafter=d.get("drafter", drafter), abstained=bool(d.get("abstained")),
                          warnings=warnings, previous_answer=d.get("previous_answer"))


def edit(kb, db: ReviewDB, assessment_id: int, code: str, user_id: int, text: str,
         base_version: int | None) -> dict:
    """A writer's version. It keeps the numbered sources of the version it started from and
    adds any accepted evidence not among them (new numbers at the end, so existing [n] stay
    right); every sentence is verified again, as a generated draft is."""
    code = _criterion_code(kb, code)
    text = text.replace("\r\n", "\n").strip()
    latest = db.latest_version(assessment_id, code)
    sources = list(latest["sources"]) if latest else []
    known = {s.get("chunk_id") for s in sources}
    for link in db.criterion(assessment_id, code)["evidence"]:
        if link["state"] == "accepted" and link["chunk_id"] not in known:
            sources.append({"n": len(sources) + 1, "chunk_id": link["chunk_id"],
                            "file_name": link["file_name"], "where": link["where"],
                            "passage": link["passage"], "fiscal_year": link["fiscal_year"]})
    return db.add_version(assessment_id, code, user_id, kind="edited", text=text, sources=sources,
                          sentences=verify_text(text, sources), drafter="human",
                          previous_answer=latest["previous_answer"] if latest else None,
                          base_version=base_version, check_base=True)


# How drafts are laid out (kb.draft.compose): the criterion's stem and sub-prompt headings, which
# end in a lead-in word, then numbered items "1. … [1][2]", unsupported ones flagged "⚠ (…)".
_PIECE_END = re.compile(r"(?<=\])[ \t]+(?=[^\s\[])")     # after a sentence's citation markers
_ENUMERATOR = re.compile(r"^\s*(?:\d+[.)]|[-•])\s+")
_FLAG = re.compile(r"\s*⚠\s*\(ต้องตรวจสอบ\)\s*$")
_LEAD_IN = re.compile(r"(?:คือ|ได้แก่|เช่น|โดย|ดังนี้|:)\s*$")


def _pieces(text: str) -> list[tuple[str, bool]]:
    """(piece, indented) for each sentence-sized piece of a narrative, in order."""
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            out += [(p.strip(), line[:1].isspace()) for p in _PIECE_END.split(line) if p.strip()]
    return out


def _bare(piece: str) -> str:
    """A piece without its enumerator, review flag and citation markers: the claim itself."""
    from kb.verify import strip_citations
    return strip_citations(_ENUMERATOR.sub("", _FLAG.sub("", piece)))


def _is_structure(piece: str) -> bool:
    """The form's own words (stem, sub-prompt heading), a tick box or a placeholder: not a claim."""
    from kb.verify import citations_in
    if citations_in(piece):
        return False
    bare = _bare(piece)
    return not bare or bare.startswith(("☐", "☑", "(")) or bool(_LEAD_IN.search(bare))


def verify_text(text: str, sources: list[dict]) -> list[dict]:
    """Verdicts for a written narrative, as kb.draft gives them for a generated one."""
    from kb import verify
    passages = {int(s["n"]): s.get("passage", "") for s in sources}
    known = verify.known_names(list(passages.values()))
    out = []
    for piece, _ in _pieces(text):
        if _is_structure(piece):
            continue
        cites = verify.citations_in(piece)
        check = verify.check_sentence(_bare(piece), cites, passages, known)
        out.append({"text": _bare(piece), "citations": cites, "verdict": check.verdict,
                    "problems": check.problems})
    return out


def draft_view(version: dict, confirmed: list[dict] | None = None) -> list[dict]:
    """The narrative line by line for display: each piece with its citations and, for claims,
    the verifier's verdict and problems, and the approver's confirmation of a flagged one
    (`confirmed`: kb.review.ReviewDB.confirmed_flags). Structure lines (kind heading or note:
    the form's words, placeholders) have verdict None."""
    from kb.verify import citations_in
    by_claim = {_bare(s["text"]): s for s in version.get("sentences", [])}
    confirmations = {_bare(f.get("text", "")): f for f in confirmed or []}
    view = []
    for piece, indented in _pieces(version.get("text", "")):
        checked = by_claim.get(_bare(piece))
        shown = _FLAG.sub("", piece)
        kind = "claim" if checked or not _is_structure(piece) else \
            "note" if _bare(piece).startswith("(") else "heading"
        view.append({"text": shown, "citations": citations_in(piece), "indented": indented, "kind": kind,
                     "verdict": checked["verdict"] if checked else None,
                     "problems": checked["problems"] if checked else [],
                     "confirmed": confirmations.get(_bare(piece)) if checked else None})
    return view


# --- coverage -----------------------------------------------------------------------------------

def coverage(catalogue, db: ReviewDB, assessment_id: int) -> dict:
    """Per item: criteria by status and evidence counts; and every criterion, those with no
    accepted evidence first (fewest suggestions first among them) — the gaps to work on."""
    overview = db.overview(assessment_id)
    items, criteria = [], []
    totals = {s: 0 for s in STATUSES}
    for item in catalogue.items():
        row = {"code": item.code, "title": item.title, "category": item.category,
               "criteria": len(item.criteria), "accepted": 0, "suggested": 0, "no_evidence": 0,
               **{s: 0 for s in totals}}
        for c in item.criteria:
            o = overview.get(c.code, {})
            status = o.get("status", "not_started")
            row[status] += 1
            totals[status] += 1
            row["accepted"] += o.get("accepted", 0)
            row["suggested"] += o.get("suggested", 0)
            row["no_evidence"] += not o.get("accepted", 0)
            criteria.append({"code": c.code, "item": item.code, "wording": c.wording, "status": status,
                             "accepted": o.get("accepted", 0), "suggested": o.get("suggested", 0),
                             "rejected": o.get("rejected", 0), "owner": o.get("owner")})
        items.append(row)
    criteria.sort(key=lambda c: (c["accepted"] > 0, c["accepted"], c["suggested"], _code_key(c["code"])))
    n = len(criteria)
    return {"assessment_id": assessment_id, "criteria_total": n, "status_totals": totals,
            "approved_share": round(totals["approved"] / n, 4) if n else 0.0,
            "without_evidence": sum(1 for c in criteria if not c["accepted"]),
            "items": items, "criteria": criteria}


def _code_key(code: str) -> tuple:
    return tuple(int(p) for p in code.split("."))


# --- the criteria tree ------------------------------------------------------------------------

def criteria_tree(catalogue, db: ReviewDB, assessment_id: int) -> dict:
    """หมวด → items → criteria, each criterion with its review status and evidence counts, and
    progress (share approved) at every level."""
    overview = db.overview(assessment_id)
    empty = {"status": "not_started", "owner": None, "reviewer": None, "approver": None, "due": None,
             "suggested": 0, "accepted": 0, "rejected": 0, "versions": 0}

    def progress(rows: list[dict]) -> dict:
        n = len(rows)
        done = sum(r["status"] == "approved" for r in rows)
        return {"criteria": n, "approved": done, "share": round(done / n, 4) if n else 0.0}

    categories, every = [], []
    for cat in catalogue.categories:
        items, in_cat = [], []
        for item in cat.items:
            rows = [{"code": c.code, "wording": c.wording, **{**empty, **overview.get(c.code, {})}}
                    for c in item.criteria]
            in_cat += rows
            items.append({"code": item.code, "title": item.title, "criteria": rows,
                          "progress": progress(rows)})
        every += in_cat
        categories.append({"number": cat.number, "title": cat.title, "items": items,
                           "progress": progress(in_cat)})
    return {"assessment": db.assessment(assessment_id), "categories": categories,
            "progress": progress(every)}


# --- assignments, my work, progress -------------------------------------------------------------

def assignment_codes(catalogue, target: str) -> list[str]:
    """The criteria a bulk assignment covers: a หมวด ("3"), an item ("3.4") or one criterion
    ("3.4.1"); several may be given separated by commas."""
    codes: list[str] = []
    for part in str(target).replace(" ", "").split(","):
        if not part:
            continue
        if part.isdigit():
            cat = next((c for c in catalogue.categories if c.number == int(part)), None)
            if cat is None:
                raise NotFound(f"เกณฑ์: ไม่พบหมวด {part} ในแบบฟอร์ม (มีหมวด 1–{len(catalogue.categories)})",
                               {"field": "target"})
            found = [c.code for item in cat.items for c in item.criteria]
        elif part.count(".") == 1:
            item = next((i for i in catalogue.items() if i.code == part), None)
            if item is None:
                raise NotFound(f"เกณฑ์: ไม่พบหัวข้อ {part} ในแบบฟอร์ม", {"field": "target"})
            found = [c.code for c in item.criteria]
        else:
            try:
                found = [catalogue.get(part).code]
            except KeyError:
                raise NotFound(f"เกณฑ์: ไม่พบเกณฑ์รหัส {part} ในแบบฟอร์ม", {"field": "target"}) from None
        codes += [c for c in found if c not in codes]
    if not codes:
        raise Invalid("เกณฑ์: ต้องระบุหมวด หัวข้อ หรือรหัสเกณฑ์ (เช่น 3 หรือ 3.4)", {"field": "target"})
    return codes


def parse_due(text) -> "date | None":
    """A due date as typed (พ.ศ. or a date picker's ค.ศ. value; kb.thaidate.parse_date);
    empty clears it."""
    from datetime import date

    from kb.thaidate import parse_date
    if text is None or isinstance(text, date) or not str(text).strip():
        return text or None
    try:
        return parse_date(text)
    except ValueError as err:
        raise Invalid(f"กำหนดส่ง: {err}", {"field": "due"}) from None


def assign(catalogue, db: ReviewDB, assessment_id: int, target: str, user_id: int | None, **fields) -> list[dict]:
    """Assign one criterion, an item or a หมวด at once (kb.review.ReviewDB.assign). `due` may
    be text as a person types it."""
    if "due" in fields:
        fields["due"] = parse_due(fields["due"])
    return db.assign(assessment_id, assignment_codes(catalogue, target), user_id, **fields)


_ROLE_FIELDS = ("owner", "reviewer", "approver")


def my_work(catalogue, db: ReviewDB, assessment_id: int, user_name: str) -> list[dict]:
    """The criteria `user_name` owns, reviews or approves; overdue first (the earliest due date
    first among them), then by due date, undated last. Approved ones are never overdue."""
    from kb.thaidate import today
    day = today().isoformat()
    wording = {c.code: c.wording for c in catalogue.criteria()}
    rows = []
    for code, a in db.assignments(assessment_id).items():
        roles = [r for r in _ROLE_FIELDS if a.get(r) == user_name]
        if not roles or code not in wording:
            continue
        overdue = bool(a["due"]) and a["due"] < day and a["status"] != "approved"
        rows.append({"code": code, "wording": wording[code], "roles": roles, "overdue": overdue, **a})
    rows.sort(key=lambda r: (not r["overdue"], r["due"] is None, r["due"] or "", _code_key(r["code"])))
    return rows


def progress_report(catalogue, db: ReviewDB, assessment_id: int) -> dict:
    """Counts by status per หมวด and per owner (criteria without an owner under None)."""
    overview = db.overview(assessment_id)

    def counts() -> dict:
        return {"total": 0, **{s: 0 for s in STATUSES}}
    categories, people = [], {}
    for cat in catalogue.categories:
        row = {"number": cat.number, "title": cat.title, **counts()}
        for item in cat.items:
            for c in item.criteria:
                o = overview.get(c.code, {})
                status = o.get("status", "not_started")
                row[status] += 1
                row["total"] += 1
                person = people.setdefault(o.get("owner"), {"owner": o.get("owner"), **counts()})
                person[status] += 1
                person["total"] += 1
        categories.append(row)
    ordered = sorted(people.values(), key=lambda p: (p["owner"] is None, p["owner"] or ""))
    return {"categories": categories, "people": ordered}


def filter_tree(tree: dict, owner: str | None = None, status: str | None = None) -> dict:
    """criteria_tree with only the criteria of `owner` (or, for "-", those without one) and/or
    in `status`; items and หมวด left empty are dropped. Progress stays that of the whole tree."""
    if not owner and not status:
        return tree

    def keep(row: dict) -> bool:
        if owner and (row.get("owner") or "-") != owner:
            return False
        return not status or row["status"] == status
    categories = []
    for cat in tree["categories"]:
        items = [{**item, "criteria": [r for r in item["criteria"] if keep(r)]} for item in cat["items"]]
        items = [i for i in items if i["criteria"]]
        if items:
            categories.append({**cat, "items": items})
    return {**tree, "categories": categories}


# --- history, as people read it ---------------------------------------------------------------

# Every action kb.review and kb.auth write to the audit log (tests/test_api_web.py checks that
# none is missing), as a Thai officer would say it. The codes stay in the database and the API.
AUDIT_TH = {
    "assessment.create": "สร้างแบบประเมิน",
    "status.change": "เปลี่ยนสถานะ",
    "evidence.suggest": "ค้นหาหลักฐานที่แนะนำ",
    "evidence.accepted": "ยอมรับหลักฐาน",
    "evidence.rejected": "ปฏิเสธหลักฐาน",
    "evidence.accept_new_text": "ยอมรับข้อความฉบับใหม่ของหลักฐาน",
    "evidence.suggested": "ยกเลิกการตัดสินหลักฐาน",
    "draft.generated": "สร้างร่างคำตอบอัตโนมัติ",
    "draft.edited": "แก้ไขร่างคำตอบ",
    "draft.conflict": "บันทึกร่างไม่สำเร็จ เพราะมีผู้แก้ไขก่อน",
    "draft.take_up": "นำร่างใหม่มาแก้ไขต่อ",
    "draft.approve": "อนุมัติร่างคำตอบ",
    "review.return": "ส่งกลับแก้ไข",
    "owner.change": "เปลี่ยนผู้รับผิดชอบ",
    "assignment.change": "มอบหมายงาน",
    "comment.add": "เพิ่มความเห็น",
    "document.upload": "อัปโหลดเอกสาร",
    "document.delete": "ลบเอกสาร",
    "user.add": "เพิ่มผู้ใช้",
    "user.password": "ตั้งรหัสผ่านใหม่",
    "token.issue": "ออกรหัสเข้าใช้งาน",
    "token.revoke": "ยกเลิกรหัสเข้าใช้งาน",
    "token.revoke_all": "ยกเลิกรหัสเข้าใช้งานทั้งหมดของผู้ใช้",
    "user.disable": "ระงับการใช้งานผู้ใช้",
    "user.enable": "เปิดการใช้งานผู้ใช้อีกครั้ง",
    "login.lock": "ระงับการเข้าสู่ระบบชั่วคราว เพราะใส่รหัสผ่านผิดหลายครั้ง",
    "login.unlock": "ยกเลิกการระงับการเข้าสู่ระบบ",
}

# Who wrote a draft version (DraftVersion.drafter), without the engineers' names for drafters.
DRAFTER_TH = {"extractive": "คัดจากหลักฐาน", "llm": "เขียนด้วยแบบจำลองภาษา", "human": "เขียนโดยผู้ใช้"}


def audit_text(event: dict) -> str:
    """One audit event (kb.review.ReviewDB.audit) as a Thai line: what was done, to what.
    An action without a label (added later, not yet named here) reads as a generic change
    rather than as its code."""
    from kb.review import EVIDENCE_TH, STATUS_TH
    action, d = event.get("action", ""), event.get("detail") or {}
    parts = [AUDIT_TH.get(action, "การเปลี่ยนแปลงอื่น")]
    if d.get("version"):
        parts.append(f"ฉบับที่ {d['version']}")
    if action == "draft.generated" and d.get("drafter") in DRAFTER_TH:
        parts.append(f"({DRAFTER_TH[d['drafter']]})")
    if action == "status.change":
        parts.append(f"จาก “{STATUS_TH.get(d.get('before'), d.get('before') or '—')}” "
                     f"เป็น “{STATUS_TH.get(d.get('after'), d.get('after') or '—')}”")
    elif action == "owner.change":
        parts.append(f"เป็น {d.get('after') or 'ไม่ระบุ'}")
    elif action == "assignment.change":
        from kb.review import ASSIGN_FIELDS_TH
        from kb.thaidate import thai_date
        for field, (_before, after) in (d.get("changes") or {}).items():
            shown = thai_date(after) if field == "due" and after else (after or "ไม่ระบุ")
            parts.append(f"· {ASSIGN_FIELDS_TH.get(field, field)}: {shown}")
    elif action == "evidence.suggest" and d.get("passages") is not None:
        parts.append(f"พบ {d['passages']} ช่วงข้อความ")
    elif action.startswith("evidence.") and d.get("before") in ("accepted", "rejected"):
        # a decision that overturns an earlier one says so; a first decision needs no "was"
        parts.append(f"(เดิม: {EVIDENCE_TH[d['before']]})")
    if d.get("file_name"):
        parts.append(f"· {d['file_name']}")
    if action == "review.return" and d.get("note"):
        parts.append(f"· “{d['note']}”")
    return " ".join(parts)
