"""Ownership and deadlines (issue B.2): owner / reviewer / approver / due date per criterion or
in bulk, validated with Thai messages naming the field; my work; progress; the tree filter; and
the upgrade of a database the previous release made (revision 0003) with its data kept."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, inspect, text

from kb import auth, workflow
from kb.criteria import load_catalogue
from kb.review import Invalid, NotFound, ReviewDB
from kb.thaidate import parse_date, thai_date, today
from review_support import database_url, postgres_server  # noqa: F401  (fixtures)

CAT = load_catalogue()


@pytest.fixture
def db(database_url):  # noqa: F811
    d = ReviewDB(database_url)
    yield d
    d.dispose()


def _team(db):
    ids = {}
    for name, role in (("somsri", "editor"), ("wichai", "reviewer"), ("boss", "admin"), ("nid", "viewer"),
                       ("gone", "reviewer")):
        ids[name] = auth.add_user(db, name, f"{name}-pass-123", role)["id"]
    auth.set_active(db, "gone", False)
    aid = db.create_assessment("กรมตัวอย่าง", 2568)["id"]
    return aid, ids


def test_thai_dates_are_read_and_written_in_the_buddhist_era():
    assert parse_date("2568-03-15") == date(2025, 3, 15)
    assert parse_date("2025-03-15") == date(2025, 3, 15)          # a date picker's value
    assert parse_date("15/03/2568") == parse_date("15 มี.ค. 2568") == date(2025, 3, 15)
    assert thai_date(date(2025, 3, 15)) == "15 มี.ค. 2568" and thai_date(None) == "—"
    with pytest.raises(ValueError, match="ไม่มีอยู่จริง"):
        parse_date("2568-02-30")
    with pytest.raises(ValueError, match="อ่านวันที่"):
        parse_date("พรุ่งนี้")


def test_assign_one_criterion_and_in_bulk_with_audit(db):
    aid, ids = _team(db)
    due = today() + timedelta(days=10)
    [row] = workflow.assign(CAT, db, aid, "3.4.1", ids["boss"], owner="somsri", reviewer="wichai",
                            approver="boss", due=due)
    assert row == {"code": "3.4.1", "owner": "somsri", "reviewer": "wichai", "approver": "boss",
                   "due": due.isoformat(), "status": "not_started"}
    assert db.criterion(aid, "3.4.1")["assignment"]["reviewer"] == "wichai"
    # a whole หมวด: only the given field changes, the rest of 3.4.1's assignment is kept
    rows = workflow.assign(CAT, db, aid, "3", ids["boss"], owner="wichai")
    assert len(rows) == len([c for i in CAT.categories[2].items for c in i.criteria]) > 5
    got = db.assignments(aid)["3.4.1"]
    assert got["owner"] == "wichai" and got["reviewer"] == "wichai" and got["due"] == due.isoformat()
    rows = workflow.assign(CAT, db, aid, "1.1", ids["boss"], reviewer="wichai")
    assert {r["code"][:3] for r in rows} == {"1.1"}
    # clearing
    workflow.assign(CAT, db, aid, "3.4.1", ids["boss"], due=None)
    assert db.assignments(aid)["3.4.1"]["due"] is None
    events = [e for e in db.audit(aid, "3.4.1") if e["action"] == "assignment.change"]
    assert len(events) == 3
    changes = [e["detail"]["changes"] for e in events]
    assert {"owner": ["somsri", "wichai"]} in changes and {"due": [due.isoformat(), None]} in changes
    assert "ผู้รับผิดชอบ: somsri" in " ".join(workflow.audit_text(e) for e in events)


@pytest.mark.parametrize("target, fields, match", [
    ("3.4.1", {"owner": "nobody"}, "ผู้รับผิดชอบ: ไม่พบผู้ใช้ชื่อ “nobody”"),
    ("3.4.1", {"reviewer": "gone"}, "ผู้ตรวจ: ผู้ใช้ “gone” ถูกปิดการใช้งาน"),
    ("3.4.1", {"approver": "somsri"}, "ผู้อนุมัติ: ผู้ใช้ “somsri” มีบทบาทผู้เขียน ต้องมีบทบาทผู้ตรวจขึ้นไป"),
    ("3.4.1", {"owner": "nid"}, "ผู้รับผิดชอบ: ผู้ใช้ “nid” มีบทบาทผู้อ่าน"),
    ("3.4.1", {"due": date(2020, 1, 1)}, "กำหนดส่ง: วันที่ 1 ม.ค. 2563 ผ่านไปแล้ว"),
    ("9", {"owner": "somsri"}, "ไม่พบหมวด 9"),
    ("3.9", {"owner": "somsri"}, "ไม่พบหัวข้อ 3.9"),
    ("3.4.99", {"owner": "somsri"}, "ไม่พบเกณฑ์รหัส 3.4.99"),
])
def test_bad_assignments_are_refused_in_thai_and_nothing_is_lost(db, target, fields, match):
    aid, ids = _team(db)
    due = today() + timedelta(days=3)
    workflow.assign(CAT, db, aid, "3", ids["boss"], owner="somsri", reviewer="wichai", due=due)
    before = db.assignments(aid)
    with pytest.raises((Invalid, NotFound), match=match):
        # a bulk request with one bad value: none of it is applied
        workflow.assign(CAT, db, aid, target if target != "3.4.1" else "3", ids["boss"],
                        **{"approver": "boss", **fields})
    assert db.assignments(aid) == before


def test_my_work_puts_overdue_first_and_returned_is_a_status(db):
    aid, ids = _team(db)
    soon, later = today() + timedelta(days=2), today() + timedelta(days=20)
    workflow.assign(CAT, db, aid, "1.1.1", ids["boss"], owner="somsri", due=later)
    workflow.assign(CAT, db, aid, "1.1.2", ids["boss"], owner="somsri", due=soon)
    workflow.assign(CAT, db, aid, "2.1.1", ids["boss"], reviewer="wichai", owner="somsri")
    workflow.assign(CAT, db, aid, "3.4.1", ids["boss"], reviewer="wichai", due=soon)
    # a due date that has passed since it was set (the check is only on input)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE criterion_states SET due_date = :d WHERE code = '1.1.1'"),
                     {"d": today() - timedelta(days=1)})
    mine = workflow.my_work(CAT, db, aid, "somsri")
    assert [r["code"] for r in mine] == ["1.1.1", "1.1.2", "2.1.1"]
    assert mine[0]["overdue"] and not mine[1]["overdue"] and mine[0]["roles"] == ["owner"]
    assert [r["code"] for r in workflow.my_work(CAT, db, aid, "wichai")] == ["3.4.1", "2.1.1"]
    # the reviewer sends a draft back: "returned", until the writer writes a new version
    db.add_version(aid, "1.1.2", ids["somsri"], kind="edited", text="ร่าง", sources=[], sentences=[])
    db.submit(aid, "1.1.2", ids["somsri"])
    assert db.send_back(aid, "1.1.2", ids["wichai"], note="ขาดตัวเลข")["status"] == "returned"
    report = workflow.progress_report(CAT, db, aid)
    cat1 = report["categories"][0]
    assert cat1["returned"] == 1 and cat1["total"] == cat1["not_started"] + 1
    somsri = next(p for p in report["people"] if p["owner"] == "somsri")
    assert somsri == {**somsri, "total": 3, "returned": 1, "not_started": 2}
    assert report["people"][-1]["owner"] is None
    tree = workflow.filter_tree(workflow.criteria_tree(CAT, db, aid), owner="somsri", status="returned")
    assert [r["code"] for c in tree["categories"] for i in c["items"] for r in i["criteria"]] == ["1.1.2"]
    db.add_version(aid, "1.1.2", ids["somsri"], kind="edited", text="ร่างใหม่", sources=[], sentences=[],
                   base_version=1, check_base=True)
    assert db.criterion(aid, "1.1.2")["status"] == "drafting"


def test_a_database_of_the_previous_release_is_upgraded_with_its_data_kept(database_url):  # noqa: F811
    """Made by the migrations up to 0003 (the release before assignments), with an owner set."""
    from alembic import command

    from kb import migrations
    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(migrations.config(conn), "0003_auth")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (name, role, password_hash, active, created_at) "
                          "VALUES ('somsri', 'editor', 'x', true, :t)"), {"t": datetime(2024, 1, 5, tzinfo=timezone.utc)})
        conn.execute(text("INSERT INTO assessments (agency, fiscal_year, created_at) VALUES ('กรมเก่า', 2567, :t)"),
                     {"t": datetime(2024, 1, 5, tzinfo=timezone.utc)})
        conn.execute(text("INSERT INTO criterion_states (assessment_id, code, status, owner_id, updated_at) "
                          "SELECT a.id, '1.1.1', 'in_review', u.id, :t FROM assessments a, users u"), {"t": datetime(2024, 1, 6, tzinfo=timezone.utc)})
    assert "due_date" not in {c["name"] for c in inspect(engine).get_columns("criterion_states")}
    engine.dispose()
    db = ReviewDB(database_url)
    with db.engine.connect() as conn:
        assert migrations.current(conn) == migrations.head() == "0004_assignments"
    aid = db.assessments()[0]["id"]
    assert db.assignments(aid)["1.1.1"] == {"owner": "somsri", "reviewer": None, "approver": None, "due": None,
                                          "status": "in_review"}
    auth.add_user(db, "wichai", "wichai-pass-1", "reviewer")
    db.assign(aid, ["1.1.1"], None, reviewer="wichai", due=today() + timedelta(days=1))
    assert db.assignments(aid)["1.1.1"]["reviewer"] == "wichai"
    db.dispose()
