"""The JSON API through the real ASGI app, on SQLite and PostgreSQL: every endpoint, the auth
failures, wrong roles, stale edits and the upload limits."""
from __future__ import annotations

import io
import json
import re
import time

import docx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import Limits
from review_support import (USERS, database_url, ingested_kb, make_users, postgres_server,  # noqa: F401
                            suggest_now)


class Api:
    """A TestClient plus a Bearer token per role."""

    def __init__(self, client: TestClient):
        self.c = client
        self.tokens = {role: client.post("/api/tokens", json={"name": role, "password": pw}).json()["token"]
                       for role, pw in USERS.items()}
        self.aid = client.get("/api/assessments", headers=self.h("viewer")).json()[0]["id"]

    def h(self, role: str | None) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def __getattr__(self, method):           # api.get(url, role, ...) etc.
        def call(url, role=None, **kw):
            return getattr(self.c, method)(url.replace("{aid}", str(self.aid)), headers=self.h(role), **kw)
        return call


def _app(kb, url, **kw):
    return create_app(kb=kb, database=url, agency="กรมทดสอบ", fiscal_year=2564, **kw)


@pytest.fixture
def api(ingested_kb, database_url):  # noqa: F811
    # jobs (the suggest-all one) run inside the request; tests/test_jobs.py has the real worker
    app = _app(ingested_kb, database_url, immediate_jobs=True)
    with TestClient(app) as client:
        make_users(app.state.ctx.db)
        suggest_now(app, "1.3.1")
        yield Api(client)


def test_anonymous_requests_are_refused(api, ingested_kb):
    health = api.get("/api/health")
    assert health.json()["ok"] is True                               # the only open endpoint
    assert str(ingested_kb.store.dir) not in health.text and "data_dir" not in health.json()
    for method, url in [("get", "/api/assessments"), ("get", "/api/assessments/{aid}/criteria"),
                        ("get", "/api/search?q=x"), ("get", "/api/documents"),
                        ("post", "/api/assessments/{aid}/evidence/1/accept"),
                        ("post", "/api/assessments/{aid}/criteria/1.3.1/drafts"),
                        ("put", "/api/assessments/{aid}/criteria/1.3.1/draft"),
                        ("post", "/api/assessments/{aid}/criteria/1.3.1/approve"),
                        ("delete", "/api/documents/x"), ("get", "/api/assessments/{aid}/export")]:
        r = getattr(api, method)(url)
        assert r.status_code == 401, (method, url, r.status_code)
        assert r.headers["www-authenticate"] == "Bearer" and "เข้าสู่ระบบ" in r.json()["detail"]
    bad = api.c.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


def test_tokens_login_and_logout(api):
    wrong = api.post("/api/tokens", json={"name": "editor", "password": "nope"})
    assert wrong.status_code == 401 and "รหัสผ่าน" in wrong.json()["detail"]
    r = api.post("/api/tokens", json={"name": "editor", "password": USERS["editor"], "label": "script"})
    assert r.status_code == 201 and r.json()["user"]["role"] == "editor"
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    assert api.c.get("/api/me", headers=h).json() == {"id": r.json()["user"]["id"], "name": "editor", "role": "editor"}
    assert api.c.delete("/api/tokens/current", headers=h).status_code == 204
    assert api.c.get("/api/me", headers=h).status_code == 401


def test_wrong_roles_are_forbidden(api):
    cases = [("viewer", "post", "/api/assessments/{aid}/criteria/1.3.1/drafts", {}),
             ("viewer", "post", "/api/assessments/{aid}/evidence/1/accept", {}),
             ("viewer", "post", "/api/assessments/{aid}/criteria/1.3.1/comments", {"json": {"text": "x"}}),
             ("editor", "post", "/api/assessments/{aid}/criteria/1.3.1/approve", {"json": {"version": 1}}),
             ("editor", "post", "/api/assessments/{aid}/criteria/1.3.1/return", {}),
             ("editor", "put", "/api/assessments/{aid}/criteria/1.3.1/owner", {"json": {"owner": "editor"}}),
             ("reviewer", "delete", "/api/documents/abc", {}),
             ("reviewer", "get", "/api/users", {}),
             ("reviewer", "post", "/api/users", {"json": {"name": "n", "password": "password1", "role": "admin"}}),
             ("editor", "post", "/api/assessments", {"json": {"agency": "ก", "fiscal_year": 2565}}),
             ("viewer", "post", "/api/documents", {"files": {"files": ("a.txt", b"x", "text/plain")}})]
    for role, method, url, kw in cases:
        r = getattr(api, method)(url, role, **kw)
        assert r.status_code == 403, (role, url, r.status_code, r.text)
        assert "ทำสิ่งนี้ไม่ได้" in r.json()["detail"]


def test_users_and_assessments(api):
    r = api.post("/api/users", "admin", json={"name": "somsri", "password": "somsri-pass", "role": "editor"})
    assert r.status_code == 201 and r.json()["role"] == "editor"
    assert api.post("/api/users", "admin", json={"name": "somsri", "password": "somsri-pass",
                                                 "role": "editor"}).status_code == 422
    assert api.post("/api/users", "admin", json={"name": "x", "password": "p", "role": "god"}).status_code == 422
    assert "somsri" in [u["name"] for u in api.get("/api/users", "admin").json()]
    r = api.post("/api/assessments", "admin", json={"agency": "กรมทดสอบ", "fiscal_year": 2565})
    assert r.status_code == 201
    assert api.post("/api/assessments", "admin", json={"agency": "กรมทดสอบ", "fiscal_year": 2565}).status_code == 409
    assert [a["fiscal_year"] for a in api.get("/api/assessments", "viewer").json()] == [2565, 2564]


def test_criteria_tree_and_one_criterion(api):
    tree = api.get("/api/assessments/{aid}/criteria", "viewer").json()
    assert len(tree["categories"]) == 6
    assert sum(len(c["items"]) for c in tree["categories"]) == 24 and tree["progress"]["criteria"] == 94
    first = tree["categories"][0]["items"][0]["criteria"][0]
    assert first["code"] == "1.1.1" and first["status"] == "not_started" and first["accepted"] == 0
    one = api.get("/api/assessments/{aid}/criteria/๑.๓.๑", "viewer").json()       # Thai digits work
    assert one["code"] == "1.3.1" and one["item"]["code"] == "1.3" and one["subprompts"]
    assert api.get("/api/assessments/{aid}/criteria/9.9.9", "viewer").status_code == 404
    assert api.get("/api/assessments/999/criteria", "viewer").status_code == 404


def test_reading_evidence_changes_nothing_and_says_when_it_is_stale(api):
    url = "/api/assessments/{aid}/criteria/1.1.1"
    before = api.get("/api/assessments/{aid}/audit?code=1.1.1", "viewer").json()
    r = api.get(url + "/evidence", "viewer")
    assert r.status_code == 200 and r.json() == [] and r.headers["x-suggestions-stale"] == "1"
    assert api.get(url, "viewer").json()["suggestions_stale"] is True
    assert api.get("/api/assessments/{aid}/audit?code=1.1.1", "viewer").json() == before     # no audit row
    assert api.post(url + "/evidence/refresh", "viewer").status_code == 403
    fresh = api.post(url + "/evidence/refresh", "editor").json()
    r = api.get(url + "/evidence", "viewer")
    assert fresh and r.json() == fresh and r.headers["x-suggestions-stale"] == "0"
    assert api.get(url, "viewer").json()["suggestions_stale"] is False


def test_evidence_drafts_review_and_coverage(api):
    ev = api.get("/api/assessments/{aid}/criteria/1.3.1/evidence", "viewer").json()
    assert ev and ev[0]["file_name"] == "efiling-policy-2564.md" and ev[0]["best_sentence"]
    assert all(e["state"] == "suggested" and e["where"] for e in ev)
    good, bad = ev[0], next(e for e in ev if e["file_name"] == "canteen-menu.html")
    r = api.post(f"/api/assessments/{{aid}}/evidence/{good['id']}/accept", "editor", json={"note": "ตรงประเด็น"})
    assert r.status_code == 200 and r.json()["state"] == "accepted" and r.json()["decided_by"] == "editor"
    r = api.post(f"/api/assessments/{{aid}}/evidence/{bad['id']}/reject", "editor")
    assert r.json()["state"] == "rejected"
    assert api.post("/api/assessments/{aid}/evidence/99999/accept", "editor").status_code == 404
    # refreshing keeps the decisions
    again = api.post("/api/assessments/{aid}/criteria/1.3.1/evidence/refresh", "editor").json()
    assert {e["id"]: e["state"] for e in again}[good["id"]] == "accepted"

    # accepted evidence feeds the drafter: the draft cites exactly the accepted passage
    v1 = api.post("/api/assessments/{aid}/criteria/1.3.1/drafts", "editor").json()
    assert v1["version"] == 1 and v1["kind"] == "generated" and v1["author"] == "editor"
    assert [s["chunk_id"] for s in v1["sources"]] == [good["chunk_id"]]
    assert "e-Filing" in v1["text"] and v1["sentences"][0]["verdict"] == "supported"

    # an edit names its base; a second edit from the same base is stale: 409, nothing lost
    edited = v1["text"] + "\n  2. มีคำร้องผ่านระบบ 99,999 คำร้อง [1]"
    v2 = api.put("/api/assessments/{aid}/criteria/1.3.1/draft", "editor", json={"text": edited, "base_version": 1})
    assert v2.status_code == 201 and v2.json()["version"] == 2 and v2.json()["base_version"] == 1
    flagged = v2.json()["sentences"][-1]
    assert flagged["verdict"] == "unsupported" and any("99,999" in p for p in flagged["problems"])
    stale = api.put("/api/assessments/{aid}/criteria/1.3.1/draft", "reviewer",
                    json={"text": "ข้อความของผู้ตรวจ", "base_version": 1})
    assert stale.status_code == 409
    body = stale.json()
    assert body["current_version"] == 2 and body["your_text"] == "ข้อความของผู้ตรวจ"
    assert body["current"]["text"] == edited and "ฉบับที่ 2" in body["detail"]
    assert len(api.get("/api/assessments/{aid}/criteria/1.3.1/drafts", "viewer").json()) == 2

    assert api.post("/api/assessments/{aid}/criteria/1.3.1/submit", "editor").json()["status"] == "in_review"
    old = api.post("/api/assessments/{aid}/criteria/1.3.1/approve", "reviewer", json={"version": 1})
    assert old.status_code == 409 and old.json()["current_version"] == 2
    # version 2 states an invented figure: approval waits until the approver confirms that flag
    blocked = api.post("/api/assessments/{aid}/criteria/1.3.1/approve", "reviewer", json={"version": 2})
    flag = len(v2.json()["sentences"]) - 1
    assert blocked.status_code == 422 and blocked.json()["unconfirmed"] == [flag]
    ok = api.post("/api/assessments/{aid}/criteria/1.3.1/approve", "reviewer",
                  json={"version": 2, "note": "ผ่าน", "confirmations": {str(flag): "ตรวจกับทะเบียนแล้ว"}})
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    assert api.put("/api/assessments/{aid}/criteria/1.3.1/owner", "reviewer",
                   json={"owner": "editor"}).json()["owner"] == "editor"
    assert api.put("/api/assessments/{aid}/criteria/1.3.1/owner", "reviewer",
                   json={"owner": "ghost"}).status_code == 404
    c = api.post("/api/assessments/{aid}/criteria/1.3.1/comments", "editor", json={"text": "ขอบคุณครับ"})
    assert c.status_code == 201 and c.json()["author"] == "editor"
    assert api.post("/api/assessments/{aid}/criteria/1.3.1/comments", "editor", json={"text": " "}).status_code == 422

    state = api.get("/api/assessments/{aid}/criteria/1.3.1", "viewer").json()
    assert state["status"] == "approved" and state["owner"] == "editor"
    assert [cm["text"] for cm in state["comments"]] == ["ผ่าน", "ขอบคุณครับ"]
    audit = api.get("/api/assessments/{aid}/audit?code=1.3.1", "viewer").json()
    actions = {e["action"] for e in audit}
    assert {"evidence.accepted", "evidence.rejected", "draft.generated", "draft.edited", "draft.conflict",
            "status.change", "draft.approve", "owner.change", "comment.add"} <= actions

    tree = api.get("/api/assessments/{aid}/criteria", "viewer").json()
    row = tree["categories"][0]["items"][2]["criteria"][0]
    assert row["code"] == "1.3.1" and row["status"] == "approved" and row["accepted"] == 1 and row["rejected"] == 1
    assert tree["progress"]["approved"] == 1

    cov = api.get("/api/assessments/{aid}/coverage", "viewer").json()
    assert len(cov["items"]) == 24 and cov["status_totals"]["approved"] == 1 and cov["without_evidence"] == 93
    assert cov["criteria"][-1]["code"] == "1.3.1"          # the one with evidence comes last
    item = next(i for i in cov["items"] if i["code"] == "1.3")
    assert item["approved"] == 1 and item["accepted"] == 1

    # send back: the reviewer's reason is kept; the criterion is returned to the writers
    back = api.post("/api/assessments/{aid}/criteria/1.3.1/return", "reviewer", json={"note": "เพิ่มตัวเลข"})
    assert back.json()["status"] == "returned"


def test_generate_without_accepted_evidence_and_bad_codes(api):
    v = api.post("/api/assessments/{aid}/criteria/1.1.1/drafts", "editor", json={"drafter": "extractive"})
    assert v.status_code == 201 and v.json()["version"] == 1
    assert api.post("/api/assessments/{aid}/criteria/9.9.9/drafts", "editor").status_code == 404
    assert api.post("/api/assessments/{aid}/criteria/1.1.1/drafts", "editor",
                    json={"drafter": "magic"}).status_code == 422
    assert api.post("/api/assessments/{aid}/criteria/2.2.2/submit", "editor").status_code == 422


def test_suggest_job_for_many_criteria(api):
    r = api.post("/api/assessments/{aid}/suggest", "editor", json={"codes": ["1.1.1", "4.4.1"]})
    assert r.status_code == 202 and r.json()["total"] == 2
    job = _wait(api, r.json()["id"])
    assert job["state"] == "done" and job["done"] == 2
    tree = api.get("/api/assessments/{aid}/criteria", "viewer").json()
    suggested = {c["code"]: c["suggested"] for cat in tree["categories"] for i in cat["items"] for c in i["criteria"]}
    assert suggested["1.1.1"] > 0 and suggested["4.4.1"] > 0 and suggested["2.1.1"] == 0
    assert api.get("/api/jobs/nope", "viewer").status_code == 404


def test_search(api):
    hits = api.get("/api/search?q=e-Filing&k=2", "viewer").json()
    assert hits[0]["file_name"] == "efiling-policy-2564.md" and len(hits) <= 2
    xlsx = api.get("/api/search?q=LED Queue&type=xlsx", "viewer").json()
    assert xlsx and all(h["doc_type"] == "xlsx" for h in xlsx) and xlsx[0]["rows"]
    assert api.get("/api/search", "viewer").status_code == 422


def test_export_formats(api):
    top = api.get("/api/assessments/{aid}/criteria/1.3.1/evidence", "viewer").json()[0]
    api.post(f"/api/assessments/{{aid}}/evidence/{top['id']}/accept", "editor")
    v = api.post("/api/assessments/{aid}/criteria/1.3.1/drafts", "editor").json()
    # from drafting, approval is refused: only a draft sent for review is approved
    early = api.post("/api/assessments/{aid}/criteria/1.3.1/approve", "reviewer", json={"version": v["version"]})
    assert early.status_code == 422 and "ส่งตรวจ" in early.json()["detail"]
    api.post("/api/assessments/{aid}/criteria/1.3.1/submit", "editor")
    flags = {str(i): "ตรวจแล้ว" for i, x in enumerate(v["sentences"]) if x["verdict"] != "supported"}
    assert api.post("/api/assessments/{aid}/criteria/1.3.1/approve", "reviewer",
                    json={"version": v["version"], "confirmations": flags}).status_code == 200
    r = api.get("/api/assessments/{aid}/export?format=docx", "viewer")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
    assert 'filename="form3-2564.docx"' in r.headers["content-disposition"]
    texts = [p.text for p in docx.Document(io.BytesIO(r.content)).paragraphs]
    assert any(t.startswith("☑\t1.3.1") for t in texts)
    md = api.get("/api/assessments/{aid}/export?format=md", "viewer").text
    assert "- ☑ **1.3.1**" in md
    data = json.loads(api.get("/api/assessments/{aid}/export?format=json", "viewer").text)
    assert data["summary"]["approved"] == 1 and data["appendix"][0]["file_name"] == top["file_name"]
    assert api.get("/api/assessments/{aid}/export?format=pdf", "viewer").status_code == 422


def _exported(api, code: str) -> dict:
    data = json.loads(api.get("/api/assessments/{aid}/export?format=json", "viewer").text)
    return next(c for cat in data["categories"] for i in cat["items"] for c in i["criteria"] if c["code"] == code)


def _approve(api, version: dict) -> None:
    flags = {str(i): "ตรวจแล้ว" for i, x in enumerate(version["sentences"]) if x["verdict"] != "supported"}
    r = api.post("/api/assessments/{aid}/criteria/1.3.1/approve", "reviewer",
                 json={"version": version["version"], "confirmations": flags})
    assert r.status_code == 200, r.text


def test_generating_on_an_approved_answer_adds_a_draft_beside_it(api):
    url = "/api/assessments/{aid}/criteria/1.3.1"
    top = api.get(url + "/evidence", "viewer").json()[0]
    api.post(f"/api/assessments/{{aid}}/evidence/{top['id']}/accept", "editor")
    v1 = api.post(url + "/drafts", "editor").json()
    v2 = api.put(url + "/draft", "editor", json={"text": v1["text"] + "\nข้อความที่ผู้ตรวจอนุมัติ",
                                                 "base_version": 1}).json()
    api.post(url + "/submit", "editor")
    _approve(api, v2)
    assert _exported(api, "1.3.1")["version"] == 2

    v3 = api.post(url + "/drafts", "editor")
    assert v3.status_code == 201 and v3.json()["version"] == 3 and v3.json()["kind"] == "generated"
    state = api.get(url, "viewer").json()
    assert state["status"] == "approved" and state["approved_version"] == 2 and len(state["versions"]) == 3
    out = _exported(api, "1.3.1")
    assert out["approved"] and out["version"] == 2 and "ข้อความที่ผู้ตรวจอนุมัติ" in out["text"]
    blocked = api.post(url + "/submit", "editor")
    assert blocked.status_code == 422 and "ใช้ร่างนี้แก้ไขต่อ" in blocked.json()["detail"]

    assert api.post(url + "/take-up", "viewer", json={"version": 3}).status_code == 403
    stale = api.post(url + "/take-up", "editor", json={"version": 2})
    assert stale.status_code == 409 and stale.json()["current_version"] == 3
    taken = api.post(url + "/take-up", "editor", json={"version": 3})
    assert taken.status_code == 200 and taken.json() == {"code": "1.3.1", "status": "drafting", "version": 3}
    assert api.post(url + "/take-up", "editor", json={"version": 3}).status_code == 422
    assert _exported(api, "1.3.1")["version"] == 2          # still the approved answer while in the cycle
    assert api.post(url + "/submit", "editor").json()["status"] == "in_review"
    assert _exported(api, "1.3.1")["version"] == 2
    _approve(api, v3.json())
    out = _exported(api, "1.3.1")
    assert out["version"] == 3 and "ข้อความที่ผู้ตรวจอนุมัติ" not in out["text"]
    state = api.get(url, "viewer").json()
    assert state["approved_version"] == 3 and state["versions"][1]["approved_by"] == "reviewer"
    assert "draft.take_up" in {e["action"] for e in api.get("/api/assessments/{aid}/audit?code=1.3.1", "viewer").json()}


def test_security_headers_on_every_response(api):
    for url in ("/api/health", "/login", "/static/app.js", "/docs", "/api/assessments"):
        h = api.get(url).headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY", url
        assert "frame-ancestors 'none'" in h["content-security-policy"], url
    # the app's pages run only scripts served by the app itself
    assert "script-src 'self';" in api.get("/login").headers["content-security-policy"]


def test_openapi_docs(api):
    page = api.get("/docs")
    assert page.status_code == 200
    # offline: every script and style the page loads is served here, none from a CDN
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") for a in assets)
    for a in assets:
        assert api.get(a).status_code == 200, a
    paths = api.get("/openapi.json").json()["paths"]
    for p in ("/api/assessments/{aid}/criteria", "/api/documents", "/api/assessments/{aid}/export",
              "/api/assessments/{aid}/criteria/{code}/draft", "/api/jobs/{job_id}"):
        assert p in paths
    assert not any(p.startswith("/a/") for p in paths)              # pages stay out of the API docs


# --- uploads: their own store, so the shared one stays as the other tests expect ---------------

@pytest.fixture
def upload_api(kb, database_url, monkeypatch):  # noqa: F811
    # After each ingest the KB scores every document against all 94 criteria (`generality`, for
    # the evidence ranking): on a fresh store that embeds every criterion's queries, minutes on
    # a busy machine, and no upload test needs it. Files are still loaded, chunked and embedded.
    monkeypatch.setattr(kb, "generality", lambda: None)
    # the jobs run inside the request (tests/test_jobs.py runs them in a real worker process),
    # without the suggestion job that follows an ingest (94 criteria, and no test here reads them)
    monkeypatch.setenv("KB_SUGGEST_AFTER_INGEST", "0")
    app = _app(kb, database_url, limits=Limits(upload_bytes=64 * 1024, files_per_upload=3), immediate_jobs=True)
    with TestClient(app) as client:
        make_users(app.state.ctx.db)
        yield Api(client)


def _wait(api, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/api/jobs/{job_id}", "viewer").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def _refused(r) -> dict[str, str]:
    return {f["file_name"]: f["reason"] for f in r.json()["files"] if not f["accepted"]}


def test_upload_limits_ingest_job_list_and_delete(upload_api, docs):
    api = upload_api
    r = api.post("/api/documents", "editor", files={"files": ("virus.exe", b"MZ...", "application/octet-stream")})
    assert r.status_code == 422 and r.json()["job"] is None and ".exe" in _refused(r)["virus.exe"]
    r = api.post("/api/documents", "editor", files={"files": ("big.txt", b"x" * (64 * 1024 + 1), "text/plain")})
    assert r.status_code == 422 and "เกินขีดจำกัด 64 KB" in _refused(r)["big.txt"]
    huge = api.post("/api/documents", "editor", files={"files": ("big.txt", b"x" * (2 * 1024 * 1024), "text/plain")})
    assert huge.status_code == 413 and "ครั้งละไม่เกิน 3 ไฟล์" in huge.json()["detail"]   # from Content-Length
    r = api.post("/api/documents", "editor", files={"files": ("empty.md", b"", "text/markdown")})
    assert r.status_code == 422 and "ไฟล์ว่าง" in _refused(r)["empty.md"]
    assert api.post("/api/documents", "editor", data={"note": "no file"}).status_code == 422
    assert api.get("/api/documents", "viewer").json() == []          # nothing was kept

    good = (docs / "green-office-2564.txt").read_bytes()
    r = api.post("/api/documents", "editor", files=[("files", ("green-office-2564.txt", good, "text/plain")),
                                                    ("files", ("../../broken.pdf", b"%PDF-1.4 broken", "application/pdf"))])
    assert r.status_code == 202 and r.json()["accepted"] == 2 and r.json()["refused"] == 0
    assert [f["file_name"] for f in r.json()["files"]] == ["green-office-2564.txt", "broken.pdf"]   # no path tricks
    assert all(set(f) == {"file_name", "accepted", "size"} for f in r.json()["files"])          # no server path
    job = _wait(api, r.json()["job"]["id"])
    assert job["state"] == "done" and job["done"] == 2 and job["progress"] == 1.0
    assert job["result"]["green-office-2564.txt"] >= 1 and len(job["errors"]) == 1 and "broken.pdf" in job["errors"][0]

    listed = {d["file_name"]: d for d in api.get("/api/documents", "viewer").json()}
    assert listed["green-office-2564.txt"]["state"] == "done" and listed["green-office-2564.txt"]["chunks"] >= 1
    assert listed["green-office-2564.txt"]["uploaded_by"] == "editor"
    assert listed["broken.pdf"]["state"] == "failed" and "broken.pdf" in listed["broken.pdf"]["error"]
    assert api.get("/api/search?q=ถุงผ้า", "viewer").json()[0]["file_name"] == "green-office-2564.txt"

    assert api.delete(f"/api/documents/{listed['green-office-2564.txt']['id']}", "editor").status_code == 403
    assert api.delete(f"/api/documents/{listed['green-office-2564.txt']['id']}", "admin").status_code == 200
    assert api.delete(f"/api/documents/{listed['broken.pdf']['id']}", "admin").status_code == 200
    assert api.get("/api/documents", "viewer").json() == []
    assert api.get("/api/search?q=ถุงผ้า", "viewer").json() == []
    assert api.delete("/api/documents/nothing", "admin").status_code == 404


def test_upload_each_file_on_its_own(upload_api, docs, tmp_path):
    api = upload_api
    good = (docs / "green-office-2564.txt").read_bytes()
    r = api.post("/api/documents", "editor", files=[("files", ("ว่าง.md", b"", "text/markdown")),
                                                    ("files", ("green-office-2564.txt", good, "text/plain"))])
    assert r.status_code == 202
    files = r.json()["files"]
    assert [(f["file_name"], f["accepted"]) for f in files] == [("ว่าง.md", False), ("green-office-2564.txt", True)]
    assert "ว่าง.md" in files[0]["reason"] and "ไฟล์ว่าง" in files[0]["reason"]
    assert str(tmp_path) not in r.text and "Error" not in r.text
    job = _wait(api, r.json()["job"]["id"])
    assert job["total"] == 1 and job["errors"] == [] and job["result"]["green-office-2564.txt"] >= 1
    assert [d["file_name"] for d in api.get("/api/documents", "viewer").json()] == ["green-office-2564.txt"]


def test_upload_more_files_than_the_limit(upload_api):
    api = upload_api
    files = [("files", (f"note-{i}.txt", f"บันทึกครั้งที่ {i} เรื่องการลดขยะ".encode(), "text/plain")) for i in range(1, 6)]
    r = api.post("/api/documents", "editor", files=files)
    assert r.status_code == 202 and r.json()["accepted"] == 3 and r.json()["refused"] == 2
    refused = _refused(r)
    assert list(refused) == ["note-4.txt", "note-5.txt"]
    assert all(name in why and "ครั้งละไม่เกิน 3 ไฟล์" in why for name, why in refused.items())
    assert sorted(_wait(api, r.json()["job"]["id"])["result"]) == ["note-1.txt", "note-2.txt", "note-3.txt"]


def test_a_refused_file_leaves_the_stored_one_alone(upload_api, docs):
    api = upload_api
    stored = (docs / "green-office-2564.txt").read_bytes()
    first = api.post("/api/documents", "editor", files={"files": ("green-office-2564.txt", stored, "text/plain")})
    _wait(api, first.json()["job"]["id"])
    r = api.post("/api/documents", "editor", files=[
        ("files", ("green-office-2564.txt", b"x" * (64 * 1024 + 1), "text/plain")),
        ("files", ("green-office-2564.txt", b"", "text/plain")),
        ("files", ("efiling-policy-2564.md", (docs / "efiling-policy-2564.md").read_bytes(), "text/markdown"))])
    assert r.status_code == 202
    assert [(f["file_name"], f["accepted"]) for f in r.json()["files"]] == [
        ("green-office-2564.txt", False), ("green-office-2564.txt", False), ("efiling-policy-2564.md", True)]
    _wait(api, r.json()["job"]["id"])
    folder = api.c.app.state.ctx.upload_dir
    assert (folder / "green-office-2564.txt").read_bytes() == stored       # byte for byte
    assert sorted(p.name for p in folder.iterdir()) == ["efiling-policy-2564.md", "green-office-2564.txt"]
    assert api.get("/api/search?q=ถุงผ้า", "viewer").json()[0]["file_name"] == "green-office-2564.txt"


def _spy_temp_files(monkeypatch) -> list:
    """Every temporary file Starlette's multipart parser opens for an uploaded part."""
    import starlette.formparsers as formparsers
    opened, real = [], formparsers.SpooledTemporaryFile
    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", lambda *a, **kw: opened.append(kw) or real(*a, **kw))
    return opened


def test_upload_credentials_are_checked_before_the_body_is_read(upload_api, monkeypatch):
    opened = _spy_temp_files(monkeypatch)
    api = upload_api
    # over the 1 MB Starlette keeps in memory, under the Content-Length cap (3 × 64 KB + 1 MB)
    body = {"files": ("big.txt", b"x" * (1100 * 1024), "text/plain")}
    assert api.post("/api/documents", None, files=body).status_code == 401
    assert api.c.post("/api/documents", headers={"Authorization": "Bearer wrong"}, files=body).status_code == 401
    assert api.post("/api/documents", "viewer", files=body).status_code == 403
    assert opened == []                                  # no part was parsed, nothing spooled to disk
    r = api.post("/api/documents", "editor", files=body)
    assert r.status_code == 422 and len(opened) == 1     # parsed once the editor is known


def test_upload_body_without_length_is_capped(upload_api, monkeypatch):
    opened = _spy_temp_files(monkeypatch)
    # a chunked body sends no Content-Length: its bytes are counted as they arrive
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode()

    def chunks():
        yield head
        for _ in range(40):                               # 2.5 MB, over the 1.2 MB cap
            yield b"x" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()
    r = upload_api.c.post("/api/documents", content=chunks(), headers={
        **upload_api.h("editor"), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and "ครั้งละไม่เกิน 3 ไฟล์" in r.json()["detail"]
    # refused as the bytes arrived: the parser never got to spool the file (the old code
    # spooled all 2.5 MB, then refused it)
    assert opened == []


def test_upload_form_in_openapi(upload_api):
    op = upload_api.get("/openapi.json").json()["paths"]["/api/documents"]["post"]
    schema = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["files"]["items"]["format"] == "binary"
