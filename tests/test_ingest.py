"""The ingestion pipeline end to end against a real store, including bad input."""


from ingest.chunker import chunk_file
from textmodel.records import LoadedFile, Section


def test_ingest_folder_with_provenance_and_summary(kb, docs):
    s = kb.ingest([docs], progress=False)
    assert (s.files, s.ingested, s.errors) == (4, 4, [])
    assert s.chunks == kb.store.stats()["chunks"] > 0
    rows = {r["file_name"]: r for r in kb.store.documents()}
    assert rows["efiling-policy-2564.md"]["fiscal_year"] == 2564
    assert rows["led-queue-2564.xlsx"]["doc_type"] == "xlsx"
    hit = kb.search("จำนวนผู้รับบริการ LED Queue พฤศจิกายน 2563", k=3)[0]
    assert hit.file_name == "led-queue-2564.xlsx"
    assert hit.sheet == "LED Queue" and hit.rows is not None and hit.rows[0] >= 2
    assert "จำนวนผู้รับบริการ" in hit.text       # header repeated in the row text


def test_reingest_unchanged_does_nothing_and_changed_replaces(kb, docs):
    kb.ingest([docs], progress=False)
    before = kb.store.stats()
    again = kb.ingest([docs], progress=False)
    assert (again.unchanged, again.ingested) == (4, 0)
    assert kb.store.stats() == before
    (docs / "green-office-2564.txt").write_text("นโยบายใหม่ ติดตั้งแผงโซลาร์เซลล์บนหลังคาอาคาร", encoding="utf-8")
    changed = kb.ingest([docs], progress=False)
    assert (changed.ingested, changed.unchanged) == (1, 3)
    assert kb.search("แผงโซลาร์เซลล์", k=1)[0].file_name == "green-office-2564.txt"
    assert not any("ถุงผ้า" in h.text for h in kb.search("ถุงผ้า", k=10, mode="bm25"))


def test_remove_deletes_everywhere(kb, docs):
    kb.ingest([docs], progress=False)
    assert kb.remove("canteen-menu.html")
    assert all(h.file_name != "canteen-menu.html" for h in kb.search("ข้าวมันไก่ ส้มตำ", k=10))
    assert all(h.file_name != "canteen-menu.html" for h in kb.search("ข้าวมันไก่ ส้มตำ", k=10, mode="dense"))
    assert kb.remove("canteen-menu.html") == []


def test_bad_files_are_reported_and_the_rest_ingested(kb, docs, tmp_path):
    kb.ingest([docs], progress=False)
    before = kb.store.stats()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (bad / "empty.txt").write_bytes(b"")
    (bad / "garbage.txt").write_bytes(bytes(range(256)) * 4)
    (bad / "fine.txt").write_text("รายงานผลการสำรวจความพึงพอใจของผู้รับบริการ ร้อยละ 91.5", encoding="utf-8")
    program = tmp_path / "setup.exe"
    program.write_bytes(b"MZ\x90\x00")
    errors = []
    s = kb.ingest([bad, program, tmp_path / "vanished.docx"], progress=False, echo=errors.append)
    assert s.ingested == 1 and len(s.errors) == 5 == len(errors)
    text = "\n".join(s.errors)
    for name in ("broken.pdf", "empty.txt", "garbage.txt", "setup.exe", "vanished.docx"):
        assert name in text
    assert all("\n" not in e for e in s.errors)
    assert "not found" in text and "empty" in text and "unsupported" in text
    after = kb.store.stats()
    assert after["documents"] == before["documents"] + 1     # nothing already stored was lost


def test_file_vanishing_mid_batch(kb, docs, monkeypatch):
    import kb.ingestion as pipeline
    real = pipeline.ingest_file

    def vanish_then_ingest(path, store, **kw):
        if path.name == "green-office-2564.txt":
            path.unlink()
        return real(path, store, **kw)

    monkeypatch.setattr(pipeline, "ingest_file", vanish_then_ingest)
    s = kb.ingest([docs], progress=False)
    assert s.ingested == 3 and len(s.errors) == 1 and "green-office-2564.txt" in s.errors[0]


def test_unsupported_files_in_folders_are_skipped_not_errors(kb, docs):
    (docs / "qrels.tsv").write_text("1.1.1\tx\t2\n")
    s = kb.ingest([docs], progress=False)
    assert s.errors == [] and any(p.endswith("qrels.tsv") for p in s.skipped)


def test_chunks_fit_the_model_budget_and_lose_nothing(kb):
    emb = kb.store.embedding
    long_sentence = "การพัฒนาระบบสารสนเทศเพื่อการบังคับคดี" * 60
    text = "\n".join([long_sentence, "ประโยคสั้นที่ตามมา"])
    chunks = chunk_file(LoadedFile(title="ทดสอบ", sections=[Section(text=text)]), emb.token_count, 64)
    assert len(chunks) > 3
    assert all(emb.token_count(c.index_text) <= 64 + 2 for c in chunks)
    assert "".join(c.text.replace("\n", "") for c in chunks) == text.replace("\n", "")


def test_a_paragraph_stays_one_line_of_its_chunk(kb):
    # the drafter reads a chunk's line as a paragraph (a sentence goes on about the one before
    # it, two neighbours make one item), so the chunker must not put each sentence on its own line
    from kb import extract
    from textmodel import thai
    a = ("สำนักงานเขตสามเริ่มใช้ระบบนัดหมายออนไลน์ตั้งแต่เดือนมกราคมเพื่อลดเวลารอคอยของผู้มาติดต่อที่สำนักงาน "
         "ปีนี้มีผู้จองคิวผ่านระบบแล้ว 12,400 ราย และเวลารอเฉลี่ยลดลงเหลือ 14 นาที")
    b = ("กรมจึงกำหนดให้ทุกสำนักงานเขตใช้ระบบเดียวกันภายในปีงบประมาณถัดไปโดยให้สำนักงานเขตสามเป็นพี่เลี้ยง "
         "การติดตามผลรายงานต่อผู้บริหารทุกไตรมาสผ่านแดชบอร์ดของกรม")
    assert len(thai.sentences(a)) == 2 and len(thai.sentences(b)) == 2
    chunks = chunk_file(LoadedFile(title="รายงาน", sections=[Section(text=f"{a}\n{b}")]),
                        kb.store.embedding.token_count, 400)
    assert len(chunks) == 1
    assert chunks[0].text.splitlines() == [a, b]
    paragraphs = [para for para, _ in extract._lines(chunks[0].text, False)]
    assert paragraphs == [0, 0, 1, 1]


def test_table_chunks_cite_their_own_rows(kb):
    rows = [f"เดือน: {m} | คำร้อง e-Filing: {n}" for m, n in zip(range(1, 41), range(100, 140))]
    section = Section(text="\n".join(rows), sheet="2564", rows=(2, 41))
    chunks = chunk_file(LoadedFile(title="สถิติ", sections=[section]), kb.store.embedding.token_count, 80)
    assert len(chunks) > 1
    assert chunks[0].rows[0] == 2 and chunks[-1].rows[1] == 41
    for c in chunks:
        assert c.rows[1] - c.rows[0] + 1 == len(c.text.splitlines())


def test_files_over_the_text_limits_are_refused_before_splitting_or_embedding(kb, docs, tmp_path,
                                                                               monkeypatch):
    kb.ingest([docs], progress=False)
    before = kb.store.stats()
    big = tmp_path / "big"
    big.mkdir()
    (big / "one-line.txt").write_text("ก" * 300_000, encoding="utf-8")              # no line break
    (big / "register.csv").write_text("เลขที่,เรื่อง\n" + "".join(f"{i},คำร้องที่ {i}\n" for i in range(3000)),
                                      encoding="utf-8")
    (big / "fine.txt").write_text("รายงานผลการสำรวจความพึงพอใจ ร้อยละ 91.5", encoding="utf-8")
    monkeypatch.setenv("KB_MAX_CHUNKS", "50")
    embedded = []
    model = type(kb.store.embedding)
    real = model.embed_array
    monkeypatch.setattr(model, "embed_array", lambda self, texts: embedded.append(len(texts)) or real(self, texts))
    s = kb.ingest([big], progress=False)
    assert s.ingested == 1 and len(s.errors) == 2
    line = next(e for e in s.errors if e.startswith("one-line.txt: "))
    assert "300,000" in line and "เกินขีดจำกัด" in line
    rows = next(e for e in s.errors if e.startswith("register.csv: "))
    assert "KB_MAX_CHUNKS" in rows and "over the 50 limit" in rows
    assert sum(embedded) < 50                  # only fine.txt was embedded
    assert kb.store.stats()["documents"] == before["documents"] + 1


def test_a_file_over_the_time_limit_leaves_its_stored_version(kb, docs, monkeypatch):
    kb.ingest([docs], progress=False)
    path = docs / "efiling-policy-2564.md"
    stored = dict(kb.store.find_documents(str(path))[0])
    generation = kb.store.generation()
    path.write_text(path.read_text(encoding="utf-8") + "\n\nฉบับแก้ไขใหม่ยูนิคอร์นสีม่วง\n", encoding="utf-8")
    monkeypatch.setenv("KB_MAX_FILE_SECONDS", "0.001")
    s = kb.ingest([path], progress=False)
    assert s.ingested == 0 and len(s.errors) == 1
    assert s.errors[0].startswith("efiling-policy-2564.md: ") and "เกิน 0.001 วินาทีต่อไฟล์" in s.errors[0]
    assert "KB_MAX_FILE_SECONDS" in s.errors[0]
    assert dict(kb.store.find_documents(str(path))[0]) == stored and kb.store.generation() == generation
    assert not any("ยูนิคอร์น" in h.text for h in kb.search("ยูนิคอร์นสีม่วง", k=10))
    monkeypatch.setenv("KB_MAX_FILE_SECONDS", "0")                 # 0: no limit
    assert kb.ingest([path], progress=False).ingested == 1
    assert any("ยูนิคอร์น" in h.text for h in kb.search("ยูนิคอร์นสีม่วง", k=10))


def test_store_threads_do_not_share_a_transaction(tmp_path):
    """Issue 10 finding 8: one sqlite3 connection served every thread, so a reader saw (and a
    commit on any thread committed) a document replacement half-written by another thread."""
    import threading
    from kb.config import Settings
    from kb.store import Store
    store = Store(Settings(data_dir=tmp_path), check_model=False)
    started, release = threading.Event(), threading.Event()

    def half_write():
        store.db.execute("INSERT INTO meta VALUES ('half', 'written')")   # not committed yet
        started.set()
        release.wait(10)
        store.db.rollback()

    writer = threading.Thread(target=half_write)
    writer.start()
    assert started.wait(10)
    try:
        assert store.meta("half") is None             # not visible from another thread
    finally:
        release.set()
        writer.join(10)
    assert store.meta("half") is None                 # and gone after the writer's rollback
    store.close()


def test_store_written_before_the_provenance_columns_gets_them(tmp_path):
    """A docstore of an earlier release (no table/origin/OCR columns) opens, and its chunks read
    as the text layer with no table."""
    import sqlite3

    from kb.config import Settings
    from kb.store import CHUNK_COLUMNS_ADDED, Store
    old = sqlite3.connect(tmp_path / "docstore.sqlite")
    old.executescript("""
CREATE TABLE chunks (chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
  text TEXT NOT NULL, index_text TEXT NOT NULL, page INTEGER, sheet TEXT, row_start INTEGER,
  row_end INTEGER, heading TEXT, tokens TEXT NOT NULL);
INSERT INTO chunks VALUES ('d:0', 'd', 0, 'ข้อความ', 'ข้อความ', 1, NULL, NULL, NULL, NULL, 'ข้อความ');""")
    old.commit()
    old.close()
    store = Store(Settings(data_dir=tmp_path), embedding=object())
    try:
        row = store.db.execute("SELECT * FROM chunks").fetchone()
        assert {name for name, _ in CHUNK_COLUMNS_ADDED} <= set(row.keys())
        assert (row["table_no"], row["origin"], row["ocr_confidence"]) == (None, "text", None)
    finally:
        store.close()


# --- the library: where files are kept, and what "the same document" is ----------------------

def test_files_from_the_command_line_are_kept_in_the_library_under_their_folder_names(kb, docs):
    (docs / "plans").mkdir()
    (docs / "plans" / "water-plan-2564.txt").write_text("แผนบริหารจัดการน้ำ ปี 2564 มีโครงการ 5 โครงการ",
                                                        encoding="utf-8")
    kb.ingest([docs], progress=False)
    keys = {r["file_name"]: r["path"] for r in kb.store.documents()}
    assert keys["water-plan-2564.txt"] == "uploads/plans/water-plan-2564.txt"
    assert keys["green-office-2564.txt"] == "uploads/green-office-2564.txt"
    kept = kb.store.library.path("plans/water-plan-2564.txt")
    assert kept.read_bytes() == (docs / "plans" / "water-plan-2564.txt").read_bytes()
    # a file named directly is named by its own name, and is the same document as in the folder walk
    again = kb.ingest([docs / "plans" / "water-plan-2564.txt"], progress=False)
    assert (again.ingested, again.unchanged) == (1, 0)          # "water-plan-2564.txt", not "plans/…"
    assert kb.ingest([docs], progress=False).unchanged == 5
    # the folder's copies are independent of the originals: deleting these loses nothing stored
    for f in docs.rglob("*.txt"):
        f.unlink()
    assert all(kb.store.file_of(r["path"]).is_file() for r in kb.store.documents())


def test_a_new_version_keeps_the_file_whose_text_the_store_holds(kb, docs):
    from kb.preview import original_file
    kb.ingest([docs], progress=False)
    row = kb.store.find_documents("green-office-2564.txt")[0]
    old = (docs / "green-office-2564.txt").read_bytes()
    # a new version arrives (as an upload does) and its ingest has not run yet, or failed
    import io
    kb.store.library.put(io.BytesIO("ฉบับใหม่ ร้อยละ 31".encode()), "green-office-2564.txt")
    path, name, _ = original_file(kb.store, row["doc_id"])
    assert path.read_bytes() == old and name == "green-office-2564.txt" and ".versions" in path.parts
    # once the new version is ingested, it is the one shown; the old one stays kept
    kb.ingest([kb.store.library.path("green-office-2564.txt")], progress=False)
    path, _, _ = original_file(kb.store, row["doc_id"])
    assert path == kb.store.library.path("green-office-2564.txt") and "ร้อยละ 31" in path.read_text("utf-8")
    assert kb.store.find_documents("green-office-2564.txt")[0]["doc_id"] == row["doc_id"]
    # removing the document removes its file and the versions kept
    kb.remove("green-office-2564.txt")
    assert not kb.store.library.path("green-office-2564.txt").exists()
    assert not (kb.store.library.dir / ".versions" / "green-office-2564.txt").exists()


def test_a_store_that_recorded_absolute_paths_keeps_its_documents_on_the_next_ingest(kb, docs):
    kb.ingest([docs], progress=False)
    before = {r["file_name"]: r["doc_id"] for r in kb.store.documents()}
    # as a store written before the library recorded a folder ingested from the command line
    for r in kb.store.documents():
        kb.store.rename_document(r["path"], str((docs / r["file_name"]).resolve()))
    assert all(r["path"].startswith("/") for r in kb.store.documents())
    again = kb.ingest([docs], progress=False)
    assert (again.unchanged, again.ingested) == (4, 0)          # not four new documents
    assert {r["file_name"]: r["doc_id"] for r in kb.store.documents()} == before
    assert all(r["path"].startswith("uploads/") for r in kb.store.documents())
