"""Backup and restore: a copy restored into another folder answers as the original did."""
from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from kb import auth
from kb.backup import BackupError, backup, restore
from kb.review import ReviewDB
from kb.review import database_url as review_url
from review_support import database_url, postgres_server  # noqa: F401  (fixtures)


def _export(catalogue, db: ReviewDB, assessment_id: int) -> dict:
    """The form as exported, less the moment of export."""
    from kb.export import form_data
    data = form_data(catalogue, db, assessment_id, include_drafts=True)
    data.pop("generated_at")
    return data


def _review_state(db: ReviewDB, kb) -> tuple[int, dict]:
    """A user, a round, evidence found and accepted, a draft: what a team has after a day."""
    editor = auth.add_user(db, "somchai", "pass-word-1", "editor")
    a = db.create_assessment("สำนักงานทดสอบ", 2564, editor["id"])
    found = kb.evidence("1.3.1", k=3)
    db.record_suggestions(a["id"], "1.3.1", found, kb.store.generation())
    link = db.criterion(a["id"], "1.3.1")["evidence"][0]
    db.decide_evidence(a["id"], link["id"], "accepted", editor["id"])
    db.add_version(a["id"], "1.3.1", editor["id"], kind="edited", text="มีระบบ e-Filing [1]",
                   sources=[{"n": 1, "chunk_id": link["chunk_id"]}], sentences=[])
    return a["id"], _export(kb.catalogue, db, a["id"])


def _snapshot(kb, db: ReviewDB, assessment_id: int) -> dict:
    docs = sorted((r["doc_id"], r["file_name"], r["sha256"], r["n_chunks"]) for r in kb.store.documents())
    hits = [(h.chunk_id, round(h.score, 5)) for h in kb.search("ระบบ e-Filing ยื่นคำร้อง", k=5)]
    crit = db.criterion(assessment_id, "1.3.1")
    links = sorted((e["chunk_id"], e["state"], e["passage"]) for e in crit["evidence"])
    return {"docs": docs, "hits": hits, "links": links, "users": [u["name"] for u in db.users()],
            "export": _export(kb.catalogue, db, assessment_id)}


def test_backup_restored_into_another_folder_answers_as_the_original(kb, docs, tmp_path, monkeypatch):
    from kb.service import KnowledgeBase
    monkeypatch.delenv("KB_DATABASE_URL", raising=False)
    uploads = kb.store.dir / "uploads"
    uploads.mkdir()
    shutil.copy(docs / "efiling-policy-2564.md", uploads / "efiling-upload-2564.md")
    kb.ingest([docs, uploads], progress=False)
    # an upload and a file of a folder from the CLI are both kept in the library, by their names
    keys = {r["file_name"]: r["path"] for r in kb.store.documents()}
    assert keys["efiling-upload-2564.md"] == "uploads/efiling-upload-2564.md"
    assert keys["green-office-2564.txt"] == "uploads/green-office-2564.txt"

    db = ReviewDB(review_url(kb.store.dir))
    assessment_id, _ = _review_state(db, kb)
    before = _snapshot(kb, db, assessment_id)

    archive = tmp_path / "backup.tar.gz"
    report = backup(kb, review_url(kb.store.dir), archive)
    assert (report.documents, report.vectors) == (len(before["docs"]), report.chunks)
    assert report.files == len(before["docs"])    # the library's file of every document
    with pytest.raises(BackupError, match="อยู่แล้ว"):
        backup(kb, review_url(kb.store.dir), archive)   # never over an earlier backup
    db.dispose()
    kb.store.close()

    # the original folder of documents is gone too (another machine): originals come from the archive
    shutil.rmtree(docs)
    target = tmp_path / "elsewhere" / "data"
    settings = replace(kb.settings, data_dir=target)
    got = restore(archive, settings, review_url(target))
    assert (got.documents, got.chunks, got.vectors, got.reembedded) == (
        report.documents, report.chunks, report.chunks, 0)

    copy = KnowledgeBase(settings)
    copy_db = ReviewDB(review_url(target))
    after = _snapshot(copy, copy_db, assessment_id)
    assert after == before
    # every document's file is readable where the copy says it is
    for row in copy.store.documents():
        assert copy.store.file_of(row["path"]).is_file()
        assert str(tmp_path / "docs") not in row["path"]
    # the copy works on: a login, a re-ingest of an unchanged upload is recognised as unchanged
    assert auth.login(copy_db, "somchai", "pass-word-1") is not None
    assert copy.ingest([target / "uploads"], progress=False).unchanged == len(before["docs"])
    copy_db.dispose()

    # a restore never replaces stored data
    with pytest.raises(BackupError, match="มีคลังเอกสารอยู่แล้ว"):
        restore(archive, settings, review_url(target))
    copy.store.close()


def test_restore_refuses_a_file_that_is_not_a_backup_and_a_review_database_in_use(tmp_path, kb, monkeypatch):
    monkeypatch.delenv("KB_DATABASE_URL", raising=False)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    settings = replace(kb.settings, data_dir=tmp_path / "new")
    with pytest.raises(BackupError, match="junk.tar.gz"):
        restore(junk, settings, review_url(tmp_path / "new"))

    db_url = review_url(tmp_path / "other")
    used = ReviewDB(db_url)
    auth.add_user(used, "admin", "pass-word-1", "admin")
    used.dispose()
    archive = tmp_path / "empty.tar.gz"
    backup(kb, review_url(kb.store.dir), archive)
    with pytest.raises(BackupError, match="ฐานข้อมูลการตรวจทานปลายทางมีข้อมูลอยู่แล้ว"):
        restore(archive, settings, db_url)
    assert not (tmp_path / "new" / "docstore.sqlite").exists()   # refused before writing anything


def test_a_store_with_absolute_paths_in_its_data_folder_gets_keys_and_keeps_ids(kb, docs):
    uploads = kb.store.dir / "uploads"
    uploads.mkdir()
    shutil.copy(docs / "green-office-2564.txt", uploads / "green.txt")
    kb.ingest([uploads], progress=False)
    (doc_id, key), = [(r["doc_id"], r["path"]) for r in kb.store.documents()]
    kb.store.close()
    with sqlite3.connect(kb.store.dir / "docstore.sqlite") as conn:   # as an older release wrote it
        conn.execute("UPDATE documents SET path = ?", (str((kb.store.dir / key).resolve()),))
    from kb.service import KnowledgeBase
    reopened = KnowledgeBase(kb.settings)
    assert [(r["doc_id"], r["path"]) for r in reopened.store.documents()] == [(doc_id, "uploads/green.txt")]
    (uploads / "green.txt").write_text("นโยบายสำนักงานสีเขียว ฉบับปรับปรุง ลดขยะร้อยละ 15", encoding="utf-8")
    reopened.ingest([uploads], progress=False)     # a new version of the same document keeps its id
    assert [r["doc_id"] for r in reopened.store.documents()] == [doc_id]
    reopened.store.close()


def test_review_state_round_trips_on_both_databases_and_new_rows_follow(kb, docs, tmp_path, database_url,
                                                                        request):
    from review_support import _fresh_postgres_db
    kb.ingest([docs], progress=False)
    db = ReviewDB(database_url)
    assessment_id, export = _review_state(db, kb)
    db.dispose()
    archive = tmp_path / "review.tar.gz"
    backup(kb, database_url, archive)

    if database_url.startswith("sqlite"):
        target_url = f"sqlite:///{tmp_path / 'restored-review.sqlite'}"
    else:
        target_url = _fresh_postgres_db(request.getfixturevalue("postgres_server"))
    restore(archive, replace(kb.settings, data_dir=tmp_path / "restored"), target_url)
    from kb.service import KnowledgeBase
    copy = KnowledgeBase(replace(kb.settings, data_dir=tmp_path / "restored"))
    restored = ReviewDB(target_url)
    assert _export(copy.catalogue, restored, assessment_id) == export
    assert export["categories"] and any(c["text"] for cat in export["categories"]
                                        for i in cat["items"] for c in i["criteria"])
    # ids were carried as they were; the next row gets the next id, not a taken one
    added = auth.add_user(restored, "malee", "pass-word-2", "reviewer")
    assert added["id"] == 2
    assert restored.create_assessment("สำนักงานทดสอบ", 2565)["id"] == assessment_id + 1
    restored.dispose()
    copy.store.close()
