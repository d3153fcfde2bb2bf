"""Backup and restore of everything an agency keeps: documents, their vectors, review state, files.

`backup(kb, db_url, target)` writes one .tar.gz, consistent while the service runs:

- docstore.sqlite: SQLite's online backup of the docstore (documents, chunks, BM25 tokens,
  previous answers) — a snapshot of one moment, whatever other processes write meanwhile;
- vectors.npz: the embedding of every chunk of that snapshot, read from Chroma afterwards.
  Chroma is written before the docstore commits a document, so every chunk of the snapshot has
  its vector unless a later replacement deleted it; those few are listed and embedded again on
  restore. The lexical indexes are not stored: they are rebuilt from the docstore's tokens;
- review.sqlite: every row of the review database (SQLite or PostgreSQL), read in one
  transaction and written into a SQLite file of the same schema;
- uploads/ and originals/: the files of the data directory's uploads, and a copy of each
  document's original kept outside the data directory (a folder ingested from the command line).

`restore(archive, settings, db_url)` rebuilds all of it into another data directory (and review
database), which must not hold data yet: a restore never replaces what is stored. Documents keep
their ids, so review data keeps pointing at them; keys relative to the data directory need no
change, and an original whose absolute path does not exist on this machine is put under
`<data dir>/originals/` and recorded there.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import tarfile
import tempfile
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from kb.config import Settings
from kb.library import FOLDER

FORMAT = 1
VECTOR_BATCH = 500


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is Thai and names the file or folder."""


@dataclass
class Report:
    documents: int
    chunks: int
    vectors: int              # stored in the archive (backup) / added to the vector store (restore)
    reembedded: int           # restore: chunks embedded again (their vector was not in the archive)
    review_rows: int
    files: int                # uploads and originals carried

    def line(self) -> str:
        return (f"เอกสาร {self.documents} ฉบับ · ส่วนข้อความ {self.chunks} · เวกเตอร์ {self.vectors}"
                f"{f' (คำนวณใหม่ {self.reembedded})' if self.reembedded else ''} · แถวข้อมูลการตรวจทาน "
                f"{self.review_rows} · ไฟล์ {self.files}")


# --- backup ------------------------------------------------------------------------------------

def backup(kb, db_url: str, target: Path) -> Report:
    store = kb.store
    target = Path(target)
    if target.exists():
        raise BackupError(f"มีไฟล์ {target} อยู่แล้ว เลือกชื่อไฟล์ใหม่ (ไม่เขียนทับไฟล์สำรองเดิม)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        snapshot = sqlite3.connect(tmp / "docstore.sqlite")
        with snapshot:
            store.db.backup(snapshot)
        docs = snapshot.execute("SELECT doc_id, path, file_name FROM documents").fetchall()
        chunk_ids = [r[0] for r in snapshot.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")]
        snapshot.close()

        ids, vectors = [], []
        for i in range(0, len(chunk_ids), VECTOR_BATCH):
            got = store.chunk_vectors(chunk_ids[i:i + VECTOR_BATCH])
            for cid in chunk_ids[i:i + VECTOR_BATCH]:
                if cid in got:
                    ids.append(cid)
                    vectors.append(np.asarray(got[cid], dtype=np.float32))
        np.savez(tmp / "vectors.npz", ids=np.array(ids, dtype=str),
                 vectors=np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32))

        from kb.review import ReviewDB
        ReviewDB(db_url).dispose()   # opening brings the schema to head (and creates a new one)
        review_rows, revision = _copy_review(db_url, f"sqlite:///{tmp / 'review.sqlite'}")

        files = []   # (path on disk, name in the archive)
        library = store.library.dir
        if library.is_dir():   # every document file, in folders, and the kept old versions
            files += [(f, f"{FOLDER}/{f.relative_to(library).as_posix()}") for f in sorted(library.rglob("*"))
                      if f.is_file() and not f.name.endswith(".part")]
        for doc_id, key, file_name in docs:
            if Path(key).is_absolute() and Path(key).is_file():
                files.append((Path(key), f"originals/{doc_id}/{file_name}"))

        manifest = {"format": FORMAT, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "data_dir": str(store.dir.resolve()), "embed_model": store.meta("embed_model"),
                    "documents": len(docs), "chunks": len(chunk_ids), "vectors": len(ids),
                    "review_rows": review_rows, "review_revision": revision}
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")

        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        with tarfile.open(part, "w:gz") as tar:
            for name in ("manifest.json", "docstore.sqlite", "vectors.npz", "review.sqlite"):
                tar.add(tmp / name, arcname=name)
            for path, name in files:
                tar.add(path, arcname=name)
        part.replace(target)   # a complete archive or none under the name asked for
    return Report(len(docs), len(chunk_ids), len(ids), 0, review_rows, len(files))


def _copy_review(src_url: str, dst_url: str) -> tuple[int, str | None]:
    """Every row of the review database as of one moment, into a new SQLite file of the same
    schema; the rows copied and the source's migration revision."""
    from sqlalchemy import create_engine, text

    from kb.review import Base, _engine

    with tempfile.TemporaryDirectory() as tmp:
        src_path = src_url.split("///", 1)[-1] if src_url.startswith("sqlite") else None
        if src_path:
            # SQLite reads outside a write are not one transaction; its online backup is one moment
            snap = Path(tmp) / "snapshot.sqlite"
            # (a sqlite3 connection's `with` commits, it does not close: closing() does)
            with closing(sqlite3.connect(src_path)) as live, closing(sqlite3.connect(snap)) as copy:
                live.backup(copy)
            src_url = f"sqlite:///{snap}"
        src = _engine(src_url)
        dst = create_engine(dst_url)
        try:
            with src.connect() as s, dst.begin() as d:
                if src.dialect.name == "postgresql":   # one snapshot for all tables
                    s.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                revision = _revision(s)
                Base.metadata.create_all(d)
                rows = _copy_rows(s, d)
        finally:
            src.dispose()
            dst.dispose()
    return rows, revision


def _copy_rows(src, dst) -> int:
    """Rows of every review table, parents before children, ids as they are."""
    from sqlalchemy import insert, select

    from kb.review import Base

    rows = 0
    for table in Base.metadata.sorted_tables:
        batch = [dict(r) for r in src.execute(select(table)).mappings()]
        if batch:
            dst.execute(insert(table), batch)
        rows += len(batch)
    return rows


def _revision(conn) -> str | None:
    from sqlalchemy import text
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - a database never migrated has no version table
        return None


# --- restore -----------------------------------------------------------------------------------

def restore(archive: Path, settings: Settings, db_url: str) -> Report:
    from kb.review import Base, ReviewDB
    from kb.service import KnowledgeBase

    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"ไม่พบไฟล์สำรอง {archive}")
    data_dir = Path(settings.data_dir)
    if (data_dir / "docstore.sqlite").exists():
        raise BackupError(f"โฟลเดอร์ข้อมูล {data_dir} มีคลังเอกสารอยู่แล้ว กู้คืนได้เฉพาะในโฟลเดอร์ว่างหรือโฟลเดอร์ใหม่ "
                          "(ข้อมูลเดิมไม่ถูกเขียนทับ)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = _unpack(archive, tmp)

        # the review database first: refused before anything is written if it holds data
        review = ReviewDB(db_url)
        try:
            with review.engine.connect() as conn:
                if any(conn.execute(t.select().limit(1)).first() for t in Base.metadata.sorted_tables):
                    raise BackupError("ฐานข้อมูลการตรวจทานปลายทางมีข้อมูลอยู่แล้ว กู้คืนได้เฉพาะฐานข้อมูลว่าง "
                                      "(ข้อมูลเดิมไม่ถูกเขียนทับ)")
                head = _revision(conn)
        finally:
            review.dispose()
        if manifest.get("review_revision") and manifest["review_revision"] != head:
            raise BackupError(f"ไฟล์สำรองมาจากฐานข้อมูลรุ่น {manifest['review_revision']} แต่โปรแกรมนี้ใช้รุ่น "
                              f"{head}: ใช้โปรแกรมรุ่นเดียวกับที่สำรองข้อมูลไว้")

        if manifest.get("embed_model") and manifest["embed_model"] != settings.embed_model:
            raise BackupError(f"ไฟล์สำรองใช้แบบจำลอง {manifest['embed_model']} แต่ค่าตั้งใช้ {settings.embed_model}: "
                              "ตั้ง KB_EMBED_MODEL ให้ตรงกันก่อนกู้คืน")

        data_dir.mkdir(parents=True, exist_ok=True)
        files = 0
        kb = KnowledgeBase(replace(settings, data_dir=data_dir), check_model=False)
        try:
            held = kb.store.vector_count()
            if held:   # a Chroma server's collection of that name is in use
                raise BackupError(f"คลังเวกเตอร์ปลายทาง (คอลเลกชัน {settings.collection}) มีข้อมูลอยู่แล้ว "
                                  f"{held} รายการ กู้คืนได้เฉพาะคลังว่าง (ข้อมูลเดิมไม่ถูกเขียนทับ)")
            if (tmp / FOLDER).is_dir():
                for f in (tmp / FOLDER).rglob("*"):
                    if f.is_file():
                        dest = data_dir / FOLDER / f.relative_to(tmp / FOLDER)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(f, dest)
                        files += 1
            snapshot = sqlite3.connect(tmp / "docstore.sqlite")
            with snapshot:
                for doc_id, key in snapshot.execute("SELECT doc_id, path FROM documents").fetchall():
                    kept = tmp / "originals" / doc_id
                    if Path(key).is_absolute() and not Path(key).exists() and kept.is_dir():
                        dest = data_dir / "originals" / doc_id
                        shutil.copytree(kept, dest)
                        name = next(dest.iterdir()).name
                        snapshot.execute("UPDATE documents SET path = ? WHERE doc_id = ?",
                                         (f"originals/{doc_id}/{name}", doc_id))
                        files += 1
            snapshot.backup(kb.store.db)   # the empty store's docstore becomes the snapshot
            snapshot.close()
            vectors, reembedded = _load_vectors(kb.store, np.load(tmp / "vectors.npz"))
            kb.refresh()
            counts = kb.store.stats()
        finally:
            kb.store.close()
        with closing(sqlite3.connect(tmp / "review.sqlite")) as saved, saved:
            # uploads recorded by absolute path (older rows) inside the old data directory
            old = manifest["data_dir"].rstrip("/") + "/"
            saved.execute("UPDATE uploads SET path = substr(path, ?) WHERE substr(path, 1, ?) = ?",
                          (len(old) + 1, len(old), old))
        rows = _insert_review(tmp / "review.sqlite", db_url)
    return Report(counts["documents"], counts["chunks"], vectors, reembedded, rows, files)


def _unpack(archive: Path, into: Path) -> dict:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # members are checked by the data filter: no absolute paths, no '..', no links out
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"อ่านไฟล์สำรอง {archive.name} ไม่ได้ ({exc})") from None
    try:
        manifest = json.loads((into / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BackupError(f"{archive.name} ไม่ใช่ไฟล์สำรองของโปรแกรมนี้ (ไม่มี manifest.json)") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive.name}: ไฟล์สำรองรูปแบบ {manifest.get('format')} ไม่รองรับ (รองรับรูปแบบ {FORMAT})")
    return manifest


def _load_vectors(store, saved) -> tuple[int, int]:
    """Chroma gets the archive's vectors; chunks without one are embedded again."""
    ids, vectors = list(saved["ids"]), saved["vectors"]
    by_id = {cid: i for i, cid in enumerate(ids)}
    rows = store.vector_rows()
    added = reembedded = 0
    for i in range(0, len(rows), VECTOR_BATCH):
        part = rows[i:i + VECTOR_BATCH]
        missing = [r for r in part if r["chunk_id"] not in by_id]
        fresh = store.embedding.embed_array([r["index_text"] for r in missing]) if missing else []
        fresh_by_id = {r["chunk_id"]: v for r, v in zip(missing, fresh)}
        matrix = np.stack([vectors[by_id[r["chunk_id"]]] if r["chunk_id"] in by_id
                           else np.asarray(fresh_by_id[r["chunk_id"]], dtype=np.float32) for r in part])
        store.add_vectors(part, matrix)
        added += len(part)
        reembedded += len(missing)
    return added, reembedded


def _insert_review(saved: Path, db_url: str) -> int:
    """The archive's review rows into the (empty, migrated) target database."""
    from sqlalchemy import Integer, create_engine, text

    from kb.review import Base, _engine

    src = create_engine(f"sqlite:///{saved}")
    dst = _engine(db_url)
    try:
        with src.connect() as s, dst.begin() as d:
            rows = _copy_rows(s, d)
            if dst.dialect.name == "postgresql":
                # ids were inserted as they were: move each id sequence past them
                for table in Base.metadata.sorted_tables:
                    if "id" in table.c and isinstance(table.c.id.type, Integer):
                        d.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                       f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
    finally:
        src.dispose()
        dst.dispose()
    return rows
