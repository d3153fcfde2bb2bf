"""The review service on both databases: suggestions that keep decisions, versions, approval, audit."""
from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from kb import auth
from kb.review import Conflict, Invalid, NotFound, ReviewDB
from review_support import database_url, postgres_server  # noqa: F401  (fixtures)


@pytest.fixture
def db(database_url):  # noqa: F811
    d = ReviewDB(database_url)
    yield d
    d.dispose()


def hit(cid, text="ข้อความ", file_name="plan.pdf", page=3):
    return SimpleNamespace(chunk_id=cid, text=text, file_name=file_name, title="แผน", page=page, sheet=None,
                           rows=None, fiscal_year=2566, best_sentence=text[:5],
                           where=lambda: f"{file_name} · หน้า {page}")


def doc(*hits, score=0.5):
    return SimpleNamespace(score=score, passages=list(hits))


def test_users_passwords_and_tokens(db):
    u = auth.add_user(db, "somchai", "รหัสผ่านภาษาไทยยาวมาก", "editor")   # > 72 bytes in UTF-8: no bcrypt limit
    assert auth.authenticate(db, "somchai", "รหัสผ่านภาษาไทยยาวมาก")["role"] == "editor"
    assert auth.authenticate(db, "somchai", "wrong-password") is None
    assert auth.authenticate(db, "nobody", "whatever-pass") is None
    with pytest.raises(Invalid):
        auth.add_user(db, "somchai", "another-pass", "viewer")
    with pytest.raises(Invalid):
        auth.add_user(db, "x", "short", "viewer")
    with pytest.raises(Invalid):
        auth.add_user(db, "y", "long-enough", "superuser")
    tok = auth.issue_token(db, u["id"], "api")
    assert auth.resolve_token(db, tok["token"])["name"] == "somchai"
    assert auth.resolve_token(db, tok["token"], kind="session") is None
    assert auth.revoke_token(db, tok["token"]) and auth.resolve_token(db, tok["token"]) is None
    session = auth.issue_token(db, u["id"], "session")
    auth.set_password(db, "somchai", "new-password-1")          # a new password ends sessions
    assert auth.resolve_token(db, session["token"]) is None
    assert "password" not in str(db.users())


def test_roles_are_ordered():
    assert auth.can("admin", "draft.approve") and auth.can("reviewer", "draft.edit")
    assert not auth.can("editor", "draft.approve") and not auth.can("viewer", "evidence.decide")
    assert not auth.can("reviewer", "document.delete") and auth.can("viewer", "read")


def test_suggestions_keep_decisions(db):
    a = db.create_assessment("กรมตัวอย่าง", 2566)
    u = auth.add_user(db, "ed", "editor-pass", "editor")
    db.record_suggestions(a["id"], "1.3.1", [doc(hit("d1:0"), hit("d1:1")), doc(hit("d2:0", file_name="x.xlsx"))], 1)
    links = {x["chunk_id"]: x for x in db.criterion(a["id"], "1.3.1")["evidence"]}
    assert list(links) == ["d1:0", "d1:1", "d2:0"] and links["d1:0"]["where"] == "plan.pdf · หน้า 3"
    db.decide_evidence(a["id"], links["d1:0"]["id"], "accepted", u["id"], note="ตรงประเด็น")
    db.decide_evidence(a["id"], links["d2:0"]["id"], "rejected", u["id"])
    # the store changed: new suggestions; the undecided d1:1 goes, decisions stay with their text
    db.record_suggestions(a["id"], "1.3.1", [doc(hit("d3:0", text="ใหม่"))], 2)
    state = db.criterion(a["id"], "1.3.1")
    got = {x["chunk_id"]: x["state"] for x in state["evidence"]}
    assert got == {"d1:0": "accepted", "d2:0": "rejected", "d3:0": "suggested"}
    accepted = next(x for x in state["evidence"] if x["state"] == "accepted")
    assert accepted["note"] == "ตรงประเด็น" and accepted["decided_by"] == "ed" and accepted["decided_at"]
    assert state["status"] == "drafting" and state["suggested_generation"] == 2
    assert db.accepted_chunk_ids(a["id"], "1.3.1") == ["d1:0"]
    with pytest.raises(NotFound):
        db.decide_evidence(a["id"], 99999, "accepted", u["id"])
    with pytest.raises(Invalid):
        db.decide_evidence(a["id"], accepted["id"], "maybe", u["id"])


def test_versions_conflicts_approval_and_audit(db):
    a = db.create_assessment("กรมตัวอย่าง", 2566)
    ed = auth.add_user(db, "ed", "editor-pass", "editor")
    rv = auth.add_user(db, "rv", "reviewer-pass", "reviewer")
    aid = a["id"]
    v1 = db.add_version(aid, "2.1.1", ed["id"], kind="generated", text="ร่างแรก [1]",
                        sources=[{"n": 1, "chunk_id": "c", "file_name": "f.md", "where": "f.md", "passage": "p"}],
                        sentences=[], drafter="extractive")
    assert v1["version"] == 1 and v1["author"] == "ed"
    v2 = db.add_version(aid, "2.1.1", ed["id"], kind="edited", text="ฉบับสอง", sources=[], sentences=[],
                        base_version=1, check_base=True)
    assert v2["version"] == 2
    with pytest.raises(Conflict) as stale:
        db.add_version(aid, "2.1.1", rv["id"], kind="edited", text="ข้อความที่ต้องไม่หาย", sources=[],
                       sentences=[], base_version=1, check_base=True)
    assert stale.value.payload["current_version"] == 2
    assert stale.value.payload["your_text"] == "ข้อความที่ต้องไม่หาย"
    assert stale.value.payload["current"]["text"] == "ฉบับสอง"
    conflict = [e for e in db.audit(aid, "2.1.1") if e["action"] == "draft.conflict"]
    assert conflict and conflict[0]["detail"]["text"] == "ข้อความที่ต้องไม่หาย"    # kept in the log too
    db.submit(aid, "2.1.1", ed["id"])
    with pytest.raises(Conflict):
        db.approve(aid, "2.1.1", 1, rv["id"])            # read an old version
    db.approve(aid, "2.1.1", 2, rv["id"], note="เรียบร้อย")
    state = db.criterion(aid, "2.1.1")
    assert state["status"] == "approved" and state["versions"][-1]["approved_by"] == "rv"
    assert state["comments"][0]["text"] == "เรียบร้อย"
    assert db.approved_answers(aid)["2.1.1"]["text"] == "ฉบับสอง"
    # editing an approved answer makes it a draft again, but the form never ticks unapproved
    # text: it keeps the approved version until the new one is approved
    db.add_version(aid, "2.1.1", ed["id"], kind="edited", text="ฉบับสาม", sources=[], sentences=[],
                   base_version=2, check_base=True)
    assert db.criterion(aid, "2.1.1")["status"] == "drafting"
    assert db.approved_answers(aid)["2.1.1"]["text"] == "ฉบับสอง"
    db.set_owner(aid, "2.1.1", "ed", rv["id"])
    db.send_back(aid, "2.1.1", rv["id"], note="เพิ่มตัวเลข")
    assert db.overview(aid)["2.1.1"]["owner"] == "ed"
    actions = [e["action"] for e in db.audit(aid)]
    for expected in ("assessment.create", "draft.generated", "draft.edited", "draft.conflict", "status.change",
                     "draft.approve", "owner.change", "review.return"):
        assert expected in actions
    with pytest.raises(Invalid):
        db.submit(aid, "3.1.1", ed["id"])                # nothing to submit
    with pytest.raises(Conflict):
        db.create_assessment("กรมตัวอย่าง", 2566)
    with pytest.raises(Invalid):
        db.create_assessment("กรมตัวอย่าง", 2023)         # a Christian-era year is a mistake here
    assert db.previous_assessment(db.create_assessment("กรมตัวอย่าง", 2567)["id"])["id"] == aid


def test_job_records_cancel_and_recovery_after_a_dead_worker(db, tmp_path):
    """Job records on both databases: a queued job cancelled with its uploads; a job a dead
    worker left running is set right at the next start (a stored file done, an unstored one
    tried once more, then failed) and handed back to the queue."""
    from kb.ingestion import sha256_of
    from kb.jobs import JobStore, Runner
    from kb.review import JobRecord
    ed = auth.add_user(db, "ed", "editor-pass", "editor")
    jobs = JobStore(db)

    queued = jobs.create("ingest", 1, {}, ed, job_id="q1")
    up = db.add_upload("plan.pdf", "/data/uploads/plan.pdf", 10, ed["id"], queued.id)
    jobs.save(queued, params={"uploads": [up["id"]]})
    got = jobs.cancel("q1")
    assert got.state == "cancelled" and got.finished and "ก่อนเริ่มทำงาน" in got.message
    row = db.uploads()[0]
    assert row["state"] == "cancelled" and row["error"].startswith("plan.pdf:")
    assert jobs.claim("q1", "host:1") is None and jobs.get("q1").state == "cancelled"

    stored, unstored = tmp_path / "stored.md", tmp_path / "unstored.md"
    stored.write_text("เก็บแล้ว", encoding="utf-8")
    unstored.write_text("ยังไม่เก็บ", encoding="utf-8")
    job = jobs.create("ingest", 2, {}, ed, job_id="r1")
    rows = [db.add_upload(p.name, str(p), 10, ed["id"], job.id) for p in (stored, unstored)]
    job.params = {"uploads": [r["id"] for r in rows]}
    jobs.save(job)
    dead = f"{socket.gethostname()}:999999999"                  # a pid no process has
    assert jobs.claim("r1", dead).state == "running"
    assert jobs.claim("r1", "another:1") is None                 # claimed once only
    for r in rows:                                              # as a worker killed mid-job leaves it
        db.update_upload(r["id"], state="running")
    docs = {str(stored): {"sha256": sha256_of(stored), "n_chunks": 3}}
    kb = SimpleNamespace(store=SimpleNamespace(document=docs.get, file_of=Path))  # keys: absolute paths
    runner = Runner(kb, db)
    assert runner.recover(set()) == ["r1"]
    states = {u["file_name"]: (u["state"], u["chunks"]) for u in db.uploads()}
    assert states["stored.md"] == ("done", 3) and states["unstored.md"][0] == "queued"
    job = jobs.get("r1")
    assert job.state == "queued" and job.done == 1 and job.result == {"stored.md": 3} and not job.errors

    # the second crash on the same file fails it, naming it
    db.update_upload(rows[1]["id"], state="running")
    with db.Session.begin() as s:
        rec = s.get(JobRecord, "r1")
        rec.state, rec.worker = "running", dead
    assert runner.recover(set()) == ["r1"]
    failed = next(u for u in db.uploads() if u["file_name"] == "unstored.md")
    assert failed["state"] == "failed" and failed["error"].startswith("unstored.md:") and "สองครั้ง" in failed["error"]
    assert runner.recover({"r1"}) == []                          # nothing left to set right


def test_database_url_defaults_to_sqlite_and_uses_psycopg(tmp_path, monkeypatch):
    from kb.review import database_url as url_for
    monkeypatch.delenv("KB_DATABASE_URL", raising=False)
    assert url_for(tmp_path) == f"sqlite:///{tmp_path / 'review.sqlite'}"
    monkeypatch.setenv("KB_DATABASE_URL", "postgresql://u:p@db/kb")
    assert url_for(tmp_path) == "postgresql+psycopg://u:p@db/kb"


def test_approval_only_in_review_never_of_ones_own_edit_and_flags_confirmed_with_reasons(db):
    aid = db.create_assessment("กรมตัวอย่าง", 2566)["id"]
    ed = auth.add_user(db, "ed", "editor-pass", "editor")
    rv = auth.add_user(db, "rv", "reviewer-pass", "reviewer")
    rv2 = auth.add_user(db, "rv2", "reviewer-pass", "reviewer")
    sentences = [{"text": "ระบบ e-Filing", "citations": [1], "verdict": "supported", "problems": []},
                 {"text": "ผู้ใช้ 99,999 ราย", "citations": [1], "verdict": "unsupported",
                  "problems": ["ตัวเลข “99,999” ไม่พบในแหล่งที่อ้าง [1]"]},
                 {"text": "ไม่มีแหล่ง", "citations": [], "verdict": "uncited", "problems": ["ไม่มีการอ้างอิง"]}]
    db.add_version(aid, "1.1.1", rv["id"], kind="edited", text="ร่าง", sources=[], sentences=sentences)
    with pytest.raises(Invalid, match="ส่งตรวจ"):
        db.approve(aid, "1.1.1", 1, rv2["id"])              # never submitted for review
    db.submit(aid, "1.1.1", ed["id"])
    with pytest.raises(Invalid, match="อนุมัติเองไม่ได้"):
        db.approve(aid, "1.1.1", 1, rv["id"])               # rv wrote this version
    with pytest.raises(Invalid) as blocked:
        db.approve(aid, "1.1.1", 1, rv2["id"], confirmations={1: "ตรวจกับทะเบียนแล้ว", 2: "  "})
    assert blocked.value.payload == {"flagged": [1, 2], "unconfirmed": [2]}   # a blank reason is none
    assert db.criterion(aid, "1.1.1")["status"] == "in_review"
    db.approve(aid, "1.1.1", 1, rv2["id"], confirmations={1: "ตรวจกับทะเบียนแล้ว", 2: "เป็นข้อความนำ"})
    assert db.criterion(aid, "1.1.1")["status"] == "approved"
    event = next(e for e in db.audit(aid, "1.1.1") if e["action"] == "draft.approve")
    assert [(c["sentence"], c["reason"]) for c in event["detail"]["confirmed_flags"]] == \
        [(1, "ตรวจกับทะเบียนแล้ว"), (2, "เป็นข้อความนำ")]
    assert "99,999" in event["detail"]["confirmed_flags"][0]["problems"][0]
    shown = db.confirmed_flags(aid, "1.1.1", 1)
    assert [(f["text"], f["reason"], f["by"]) for f in shown] == \
        [("ผู้ใช้ 99,999 ราย", "ตรวจกับทะเบียนแล้ว", "rv2"), ("ไม่มีแหล่ง", "เป็นข้อความนำ", "rv2")]
    assert db.confirmed_flags(aid, "1.1.1", 2) == []


def _approved(db, aid, ed, rv, code="1.3.1", text="คำตอบที่อนุมัติ"):
    """A criterion whose version 1 (ed's edit) was approved by rv."""
    db.add_version(aid, code, ed["id"], kind="edited", text=text, sources=[], sentences=[])
    db.submit(aid, code, ed["id"])
    db.approve(aid, code, 1, rv["id"])
    return db.criterion(aid, code)["versions"][0]


def test_a_new_machine_draft_never_replaces_the_approved_answer(db):
    aid = db.create_assessment("กรมตัวอย่าง", 2566)["id"]
    ed = auth.add_user(db, "ed", "editor-pass", "editor")
    rv = auth.add_user(db, "rv", "reviewer-pass", "reviewer")
    v1 = _approved(db, aid, ed, rv)
    v2 = db.add_version(aid, "1.3.1", ed["id"], kind="generated", text="ร่างใหม่จากระบบ [1]",
                        sources=[], sentences=[], drafter="extractive")
    state = db.criterion(aid, "1.3.1")
    # the draft is a new version beside the answer: still approved, version 1 still the answer
    assert v2["version"] == 2 and [v["version"] for v in state["versions"]] == [1, 2]
    assert state["status"] == "approved" and state["approved_version"] == 1
    assert db.approved_answers(aid)["1.3.1"]["text"] == "คำตอบที่อนุมัติ"
    with pytest.raises(Invalid, match="ใช้ร่างนี้แก้ไขต่อ"):
        db.submit(aid, "1.3.1", ed["id"])                     # taking it up is a deliberate step
    with pytest.raises(Conflict):
        db.take_up(aid, "1.3.1", 1, ed["id"])                 # only the newer draft can be taken up
    assert db.take_up(aid, "1.3.1", 2, ed["id"])["status"] == "drafting"
    with pytest.raises(Invalid):
        db.take_up(aid, "1.3.1", 2, ed["id"])                 # already in the cycle
    # while the new draft is worked on and reviewed, the approved answer is what is exported
    assert db.approved_answers(aid)["1.3.1"]["version"] == 1
    db.submit(aid, "1.3.1", ed["id"])
    assert db.approved_answers(aid)["1.3.1"]["version"] == 1
    db.approve(aid, "1.3.1", 2, rv["id"])
    state = db.criterion(aid, "1.3.1")
    assert state["status"] == "approved" and state["approved_version"] == 2
    assert db.approved_answers(aid)["1.3.1"]["text"] == "ร่างใหม่จากระบบ [1]"
    assert state["versions"][0] == v1                          # the approved version was never modified
    actions = [(e["action"], e["detail"].get("version"), e["detail"].get("after"))
               for e in reversed(db.audit(aid, "1.3.1"))]
    at = actions.index(("draft.generated", 2, None))
    # generating changed no status; taking up did, and was audited with the version
    assert actions[at + 1] == ("status.change", None, "drafting") and actions[at + 2] == ("draft.take_up", 2, None)


def test_an_edit_of_an_approved_answer_keeps_it_exported_until_the_next_approval(db):
    aid = db.create_assessment("กรมตัวอย่าง", 2566)["id"]
    ed = auth.add_user(db, "ed", "editor-pass", "editor")
    rv = auth.add_user(db, "rv", "reviewer-pass", "reviewer")
    rv2 = auth.add_user(db, "rv2", "reviewer-pass", "reviewer")
    v1 = _approved(db, aid, ed, rv)
    db.add_version(aid, "1.3.1", rv["id"], kind="edited", text="ฉบับแก้ของผู้ตรวจ", sources=[], sentences=[],
                   base_version=1, check_base=True)
    state = db.criterion(aid, "1.3.1")
    assert state["status"] == "drafting" and state["approved_version"] == 1
    assert db.approved_answers(aid)["1.3.1"]["text"] == "คำตอบที่อนุมัติ"
    db.submit(aid, "1.3.1", ed["id"])
    with pytest.raises(Invalid, match="อนุมัติเองไม่ได้"):
        db.approve(aid, "1.3.1", 2, rv["id"])                   # the approval rules are unchanged
    db.send_back(aid, "1.3.1", rv2["id"], note="ยังไม่ครบ")
    assert db.approved_answers(aid)["1.3.1"]["version"] == 1    # a send-back is not a withdrawal
    db.submit(aid, "1.3.1", ed["id"])
    db.approve(aid, "1.3.1", 2, rv2["id"])
    assert db.approved_answers(aid)["1.3.1"]["text"] == "ฉบับแก้ของผู้ตรวจ"
    assert db.criterion(aid, "1.3.1")["versions"][0] == v1


def test_the_worker_queues_one_suggestion_job_per_state_of_the_store(db, monkeypatch):
    from kb.jobs import JobStore, Runner
    monkeypatch.delenv("KB_SUGGEST_AFTER_INGEST", raising=False)
    aid = db.create_assessment("กรมตัวอย่าง", 2566)["id"]
    generation = {"now": 3}
    criteria = [SimpleNamespace(code="1.1.1"), SimpleNamespace(code="1.1.2")]
    kb = SimpleNamespace(store=SimpleNamespace(generation=lambda: generation["now"]),
                         catalogue=SimpleNamespace(criteria=lambda: criteria))
    runner = Runner(kb, db)
    job = runner.suggest_if_stale()
    assert job.kind == "suggest" and job.total == 2 and job.params["assessments"] == [aid]
    assert runner.suggest_if_stale() is None                   # one is queued already
    JobStore(db).cancel(job.id)
    assert runner.suggest_if_stale() is None                   # cancelled for this store: not again
    for code in ("1.1.1", "1.1.2"):
        db.record_suggestions(aid, code, [], 3)
    assert runner.stale_assessments() == []
    generation["now"] = 4                                      # documents changed (kb ingest)
    assert runner.stale_assessments() == [aid]
    again = runner.suggest_if_stale()
    assert again is not None and again.params["generation"] == 4
    monkeypatch.setenv("KB_SUGGEST_AFTER_INGEST", "0")
    JobStore(db).cancel(again.id)
    generation["now"] = 5
    assert runner.suggest_if_stale() is None                   # turned off


def test_accepted_evidence_stays_tied_to_the_text_that_was_accepted(kb, docs, db):
    # a new version of a file keeps its passages' ids: the accepted link must not feed the new
    # text into drafts until a reviewer accepts it
    from kb import workflow
    kb.ingest([docs], progress=False)
    a = db.create_assessment("กรมตัวอย่าง", 2564)
    user = auth.add_user(db, "editor1", "long-enough-pass", "editor")
    workflow.suggest(kb, db, a["id"], "1.1.1", force=True)
    link = next(x for x in db.criterion(a["id"], "1.1.1")["evidence"] if x["file_name"] == "green-office-2564.txt")
    db.decide_evidence(a["id"], link["id"], "accepted", user["id"])
    seen = []

    def drafter(kb, code, accepted_chunk_ids=None, **kw):
        seen.append(accepted_chunk_ids)
        from kb.draft import draft_criterion
        return draft_criterion(kb, code, accepted_chunk_ids=accepted_chunk_ids, **kw)

    workflow.generate(kb, db, a["id"], "1.1.1", user["id"], draft_fn=drafter)
    assert seen[-1] == [link["chunk_id"]]
    assert not workflow.mark_changed(kb, [db.evidence_link(a["id"], link["id"])])[0]["changed"]

    f = docs / "green-office-2564.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("ร้อยละ 12", "ร้อยละ 31"), encoding="utf-8")
    kb.ingest([docs], progress=False)
    now = workflow.mark_changed(kb, [db.evidence_link(a["id"], link["id"])])[0]
    assert now["changed"] and "ร้อยละ 12" in now["passage"] and "ร้อยละ 31" in now["current_passage"]
    v = workflow.generate(kb, db, a["id"], "1.1.1", user["id"], draft_fn=drafter)
    assert seen[-1] is None                     # nothing accepted is current: the drafter searches
    assert any("green-office-2564.txt" in w and "ยอมรับข้อความใหม่" in w for w in v["warnings"])

    renewed = workflow.accept_current(kb, db, a["id"], link["id"], user["id"])
    assert not renewed["changed"] and "ร้อยละ 31" in renewed["passage"] and renewed["state"] == "accepted"
    workflow.generate(kb, db, a["id"], "1.1.1", user["id"], draft_fn=drafter)
    assert seen[-1] == [link["chunk_id"]]
    history = [e["action"] for e in db.audit(a["id"], "1.1.1", limit=10)]
    assert "evidence.accept_new_text" in history
