"""Assignments through the JSON API (issue B.2): one criterion, a หมวด in bulk, the Thai
errors naming the field, my work, progress and the tree filter."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from kb import auth
from kb.thaidate import BUDDHIST_ERA_OFFSET, today
from review_support import database_url, ingested_kb, make_users, postgres_server  # noqa: F401
from test_api import Api, _app


@pytest.fixture
def api(ingested_kb, database_url):  # noqa: F811
    app = _app(ingested_kb, database_url, immediate_jobs=True)
    with TestClient(app) as client:
        make_users(app.state.ctx.db)
        auth.add_user(app.state.ctx.db, "gone", "gone-pass-123", "reviewer")
        auth.set_active(app.state.ctx.db, "gone", False)
        yield Api(client)


def _be(day) -> str:
    return f"{day.year + BUDDHIST_ERA_OFFSET}-{day.month:02d}-{day.day:02d}"


def test_assign_bulk_my_work_progress_and_filter(api):
    due = today() + timedelta(days=7)
    one = api.put("/api/assessments/{aid}/criteria/3.4.1/assignment", "reviewer",
                  json={"owner": "editor", "reviewer": "reviewer", "approver": "admin", "due": _be(due)})
    assert one.status_code == 200, one.text
    assert one.json()["due"] == due.isoformat() and one.json()["approver"] == "admin"
    # the date picker's value (ค.ศ.) is accepted as well
    picker = api.put("/api/assessments/{aid}/criteria/3.4.2/assignment", "reviewer",
                     json={"owner": "editor", "due": due.isoformat()})
    assert picker.json()["due"] == due.isoformat()
    # bulk is the admin's
    assert api.post("/api/assessments/{aid}/assignments", "reviewer", json={"target": "2", "owner": "editor"}).status_code == 403
    bulk = api.post("/api/assessments/{aid}/assignments", "admin", json={"target": "2", "reviewer": "reviewer"})
    assert bulk.status_code == 200 and bulk.json()["assigned"] == len(
        [r for r in bulk.json()["criteria"] if r["code"].startswith("2.")]) > 3
    mine = api.get("/api/assessments/{aid}/mywork", "editor").json()
    assert mine["user"] == "editor" and [r["code"] for r in mine["criteria"]] == ["3.4.1", "3.4.2"]
    assert api.get("/api/assessments/{aid}/mywork?name=reviewer", "viewer").json()["criteria"][0]["code"] == "3.4.1"
    prog = api.get("/api/assessments/{aid}/progress", "viewer").json()
    editor = next(p for p in prog["people"] if p["owner"] == "editor")
    assert editor["total"] == 2 and editor["not_started"] == 2 and len(prog["categories"]) == 6   # form 3 covers หมวด 1-6
    tree = api.get("/api/assessments/{aid}/criteria?owner=editor", "viewer").json()
    assert [r["code"] for c in tree["categories"] for i in c["items"] for r in i["criteria"]] == ["3.4.1", "3.4.2"]
    tree = api.get("/api/assessments/{aid}/criteria?status=approved", "viewer").json()
    assert tree["categories"] == [] and tree["progress"]["criteria"] == 94


@pytest.mark.parametrize("body, status, message", [
    ({"owner": "nobody"}, 404, "ผู้รับผิดชอบ: ไม่พบผู้ใช้ชื่อ “nobody”"),
    ({"reviewer": "gone"}, 422, "ผู้ตรวจ: ผู้ใช้ “gone” ถูกปิดการใช้งาน"),
    ({"approver": "editor"}, 422, "ผู้อนุมัติ: ผู้ใช้ “editor” มีบทบาทผู้เขียน"),
    ({"due": "2560-01-01"}, 422, "กำหนดส่ง: วันที่ 1 ม.ค. 2560 ผ่านไปแล้ว"),
    ({"due": "พรุ่งนี้"}, 422, "กำหนดส่ง: อ่านวันที่"),
    ({"target": "9"}, 404, "ไม่พบหมวด 9"),
])
def test_bad_assignments_name_the_field_and_keep_what_was_stored(api, body, status, message):
    api.post("/api/assessments/{aid}/assignments", "admin", json={"target": "1", "owner": "editor"})
    before = api.get("/api/assessments/{aid}/mywork", "editor").json()
    r = api.post("/api/assessments/{aid}/assignments", "admin", json={"target": "1", **body})
    assert r.status_code == status and message in r.json()["detail"], r.text
    assert api.get("/api/assessments/{aid}/mywork", "editor").json() == before
    assert len(before["criteria"]) > 5
