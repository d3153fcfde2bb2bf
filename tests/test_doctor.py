"""`kb doctor`: the docstore, the vector store and the lexical indexes checked against each other."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from kb import doctor

ROOT = Path(__file__).resolve().parents[1]


def test_doctor_finds_orphan_and_missing_vectors_and_repairs_them(kb, docs):
    kb.ingest([docs], progress=False)
    store = kb.store
    assert doctor.check(store).healthy
    chunk_ids = [r[0] for r in store.db.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")]
    lost = chunk_ids[0]
    # as a process killed after writing Chroma and before the docstore commit leaves it
    orphan = {"chunk_id": "deadbeefdeadbeef:0", "doc_id": "deadbeefdeadbeef", "index_text": "ข้อความกำพร้า",
              "file_name": "gone.txt", "doc_type": "txt", "fiscal_year": 2564}
    store.add_vectors([orphan], np.ones((1, store.embedding.dim), dtype=np.float32))
    store.delete_vectors([lost])                   # and a vector Chroma lost

    report = doctor.check(store)
    assert not report.healthy
    assert report.orphan_vectors == ["deadbeefdeadbeef:0"] and report.missing_vectors == [lost]
    assert "พบความไม่ตรงกัน" in report.lines()[-1]
    assert doctor.repair(store, report) == 2
    after = doctor.check(store)
    assert after.healthy and after.vectors == after.chunks == len(chunk_ids)
    assert store.chunk_vectors([lost])                # embedded again from the stored text
    assert "deadbeefdeadbeef:0" not in {h.chunk_id for h in kb.search("ข้อความกำพร้า", k=20, mode="dense")}


def test_kb_doctor_command_exits_1_on_disagreement_and_0_after_repair(kb, docs, tmp_path):
    kb.ingest([docs], progress=False)
    kb.store.delete_vectors([r[0] for r in kb.store.db.execute("SELECT chunk_id FROM chunks LIMIT 2")])
    kb.store.close()
    env = {**os.environ, "KB_DATA_DIR": str(kb.settings.data_dir)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "kb.cli", "doctor", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    first = run()
    assert first.returncode == 1 and "ส่วนข้อความที่ไม่มีเวกเตอร์ 2 รายการ" in first.stdout
    fixed = run("--repair")
    assert fixed.returncode == 0 and "ซ่อมแล้ว: ปรับเวกเตอร์ 2 รายการ" in fixed.stdout
    assert run().returncode == 0
