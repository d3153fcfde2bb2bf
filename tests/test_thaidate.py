"""What people read instead of codes: Thai Buddhist-era dates (kb.thaidate) and Thai names for
the audit log's actions (kb.workflow.audit_text)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kb import workflow
from kb.review import EVIDENCE_STATES
from kb.thaidate import MONTHS_TH, thai_datetime

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value, shown", [
    ("2026-12-02T03:15:00+00:00", "2 ธ.ค. 2569 10:15"),       # as kb.review stores it: UTC
    ("2026-12-02T03:15:00", "2 ธ.ค. 2569 10:15"),             # naive: UTC too
    ("2026-12-31T20:00:00Z", "1 ม.ค. 2570 03:00"),            # Thailand is already in the new year
    ("2021-10-01T09:05:59+07:00", "1 ต.ค. 2564 09:05"),
    (datetime(2024, 2, 29, 17, 0, tzinfo=timezone.utc), "1 มี.ค. 2567 00:00"),
    (datetime(2025, 5, 7, 8, 30, tzinfo=timezone(timedelta(hours=7))), "7 พ.ค. 2568 08:30"),
])
def test_thai_datetime_is_buddhist_era_in_thai_time(value, shown):
    assert thai_datetime(value) == shown


def test_thai_datetime_without_a_date_never_breaks_a_page():
    assert thai_datetime(None) == "—" and thai_datetime("") == "—"
    assert thai_datetime("เมื่อวาน") == "เมื่อวาน"             # not ISO: shown as it is
    assert thai_datetime("2026-06-15T12:00:00+00:00", tz=timezone.utc) == "15 มิ.ย. 2569 12:00"


def test_every_month_has_its_thai_abbreviation():
    shown = [thai_datetime(datetime(2026, m, 10, 5, tzinfo=timezone.utc)) for m in range(1, 13)]
    assert [s.split()[1] for s in shown] == list(MONTHS_TH)
    assert len(set(MONTHS_TH)) == 12 and all(s.endswith(" 2569 12:00") for s in shown)


def _audited_actions() -> set[str]:
    """Every action the code writes to the audit log, f-string actions expanded."""
    kinds = set(re.findall(r'kind="(\w+)"', (ROOT / "kb" / "workflow.py").read_text()))
    placeholders = {"state": set(EVIDENCE_STATES), "kind": kinds}
    actions = set()
    for module in ("review.py", "auth.py"):
        source = (ROOT / "kb" / module).read_text()
        # every dotted string literal on a line that writes to the audit log (the action may
        # follow a computed user id, or be one of two by a condition)
        lines = [line for line in source.splitlines() if "_audit(s," in line]
        for action in re.findall(r'f?"([a-z_]+\.[a-z_{}]+)"', "\n".join(lines)):
            names = re.findall(r"\{(\w+)\}", action)
            assert set(names) <= set(placeholders), f"{module}: cannot expand {action!r}"
            expanded = {action}
            for name in names:
                expanded = {a.replace("{" + name + "}", v) for a in expanded for v in placeholders[name]}
            actions |= expanded
    return actions


def test_every_audited_action_has_a_thai_label():
    actions = _audited_actions()
    assert {"status.change", "draft.generated", "draft.edited", "evidence.accepted", "token.issue",
            "login.lock", "user.disable"} <= actions
    missing = actions - set(workflow.AUDIT_TH)
    assert not missing, f"add a Thai label to kb.workflow.AUDIT_TH for {sorted(missing)}"
    assert not any(re.search(r"[A-Za-z]", label) for label in workflow.AUDIT_TH.values())


def test_audit_lines_read_as_thai():
    line = workflow.audit_text
    assert line({"action": "status.change", "detail": {"before": "drafting", "after": "in_review"}}) \
        == "เปลี่ยนสถานะ จาก “กำลังร่าง” เป็น “รอตรวจ”"
    assert line({"action": "draft.generated", "detail": {"version": 3, "drafter": "llm"}}) \
        == "สร้างร่างคำตอบอัตโนมัติ ฉบับที่ 3 (เขียนด้วยแบบจำลองภาษา)"
    assert line({"action": "evidence.accepted", "detail": {"before": "suggested", "file_name": "a.pdf"}}) \
        == "ยอมรับหลักฐาน · a.pdf"
    assert line({"action": "evidence.suggested", "detail": {"before": "rejected", "file_name": "a.pdf"}}) \
        == "ยกเลิกการตัดสินหลักฐาน (เดิม: ปฏิเสธ) · a.pdf"
    assert line({"action": "owner.change", "detail": {"before": "somsri", "after": None}}) \
        == "เปลี่ยนผู้รับผิดชอบ เป็น ไม่ระบุ"
    assert line({"action": "review.return", "detail": {"note": "ขอตัวเลข"}}) == "ส่งกลับแก้ไข · “ขอตัวเลข”"
    # an action added later without a label reads as a change, never as its code
    assert line({"action": "draft.frobnicate", "detail": None}) == "การเปลี่ยนแปลงอื่น"
