"""Scanned pages and images: Thai OCR with Tesseract (ingest/ocr.py), real Tesseract, real PDFs."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest import ocr
from ingest.limits import Limits
from ingest.loaders import LoadError, load
from printed import cer, printed_page
from review_support import THAI_FONT

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None or not THAI_FONT.exists(),
                                reason="needs tesseract-ocr, tesseract-ocr-tha and a Thai font (make system-deps)")

PASSAGE = ("กรมบังคับคดีเปิดให้บริการระบบ e-Filing สำหรับการยื่นคำร้องทางอิเล็กทรอนิกส์ "
           "ร่วมกับธนาคารพาณิชย์ จำนวน 1,284 ราย ในปี พ.ศ. 2564")


def test_a_scanned_pdf_page_is_read_by_ocr_beside_a_text_page(tmp_path):
    from fpdf import FPDF
    scan = tmp_path / "scan.png"
    printed_page(PASSAGE).save(scan, dpi=(300, 300))
    pdf = FPDF()
    pdf.add_font("Garuda", fname=str(THAI_FONT))
    pdf.set_font("Garuda", size=14)
    pdf.add_page()
    pdf.multi_cell(0, 10, "หน้าแรกเป็นข้อความของไฟล์ รายงานผลการดำเนินงาน")
    pdf.add_page()                            # page 2: only the image of a printed page, no text layer
    pdf.image(str(scan), x=0, y=0, w=210)
    path = tmp_path / "mixed.pdf"
    pdf.output(str(path))
    loaded = load(path)
    assert [(s.page, s.origin) for s in loaded.sections] == [(1, "text"), (2, "ocr")]
    page2 = loaded.sections[1]
    assert cer(PASSAGE, page2.text) <= 0.06 and page2.ocr_confidence > 60
    assert "1,284" in page2.text and "e-Filing" in page2.text
    assert "\n" not in page2.text        # one paragraph, its two printed lines joined (no space in Thai)


def test_an_image_is_ingested_searchable_and_its_citation_says_it_was_read_from_a_scan(kb, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    printed_page(PASSAGE, dpi=200).save(folder / "efiling-notice.png")
    summary = kb.ingest([folder], progress=False)
    assert (summary.ingested, summary.errors) == (1, [])
    hit = kb.search("ยื่นคำร้องทางอิเล็กทรอนิกส์ ธนาคารพาณิชย์", k=1)[0]
    assert hit.file_name == "efiling-notice.png" and hit.origin == "ocr" and hit.page == 1
    assert "อ่านจากภาพสแกน (ความมั่นใจ" in hit.where()


def test_images_over_the_limits_or_broken_are_refused_by_name(tmp_path):
    from PIL import Image
    big = tmp_path / "poster.png"
    Image.new("1", (9000, 7000), 1).save(big)                 # 63 million pixels, a few KB on disk
    with pytest.raises(LoadError, match=r"poster.png: page 1 is 9000×7000 pixels"):
        load(big)
    frames = tmp_path / "fax.tif"
    page = Image.new("1", (200, 100), 1)
    page.save(frames, save_all=True, append_images=[page] * 4)
    with pytest.raises(LoadError, match=r"fax.tif: .*has 5 pages, over the 3 page limit"):
        load(frames, Limits(max_pages=3))
    broken = tmp_path / "photo.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(LoadError, match=r"photo.jpg: image is corrupt or not an image"):
        load(broken)
    blank = tmp_path / "blank.png"
    Image.new("L", (800, 600), 255).save(blank)
    with pytest.raises(LoadError, match=r"blank.png: no text found in the image"):
        load(blank)


def test_without_tesseract_a_scan_is_refused_saying_what_to_install(tmp_path, monkeypatch):
    scan = tmp_path / "scan.png"
    printed_page("ทดสอบ", dpi=100).save(scan)
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    with pytest.raises(LoadError, match=r"scan.png: .*apt-get install tesseract-ocr tesseract-ocr-tha"):
        load(scan)


def test_ocr_over_its_time_limit_or_failing_names_the_page(tmp_path, monkeypatch):
    import pytesseract
    scan = tmp_path / "minutes.png"
    printed_page(PASSAGE, dpi=200).save(scan)
    with pytest.raises(LoadError, match=r"minutes.png: OCR of page 1 took longer than 0.01 s"):
        load(scan, Limits(max_ocr_page_seconds=0.01))

    def broken(*args, **kwargs):
        raise pytesseract.TesseractError(1, "Error in pixReadStream")
    monkeypatch.setattr(pytesseract, "image_to_data", broken)
    with pytest.raises(LoadError, match=r"minutes.png: OCR of page 1 failed \(TesseractError"):
        load(scan)


def _scanned_pdf(path: Path, texts: list[str | None], dpi: int = 150) -> Path:
    """A PDF whose pages are images of printed pages (None: a page of typed text instead)."""
    from fpdf import FPDF
    pdf = FPDF()
    pdf.add_font("Garuda", fname=str(THAI_FONT))
    pdf.set_font("Garuda", size=14)
    for i, text in enumerate(texts):
        pdf.add_page()
        if text is None:
            pdf.multi_cell(0, 10, "หน้านี้พิมพ์เป็นข้อความของไฟล์ รายงานผลการดำเนินงาน")
            continue
        image = path.with_name(f"{path.stem}-{i}.png")
        printed_page(text, dpi=dpi).save(image, dpi=(dpi, dpi))
        pdf.image(str(image), x=0, y=0, w=210)
    pdf.output(str(path))
    return path


def test_the_loader_tells_each_page_it_reads_and_which_were_read_by_ocr(tmp_path):
    path = _scanned_pdf(tmp_path / "report.pdf", [None, PASSAGE, "ผลการประเมินความพึงพอใจของผู้รับบริการ"])
    told = []
    load(path, progress=lambda page, pages, by_ocr: told.append((page, pages, by_ocr)))
    # every page first for its text layer, then the two without one again as they are OCR'd
    assert told == [(1, 3, False), (2, 3, False), (3, 3, False), (2, 3, True), (3, 3, True)]
    frames = tmp_path / "fax.tif"
    pages = [printed_page(t, dpi=100) for t in ("หนังสือเวียน", "ฉบับที่สอง")]
    pages[0].save(frames, save_all=True, append_images=pages[1:])
    told.clear()
    load(frames, progress=lambda page, pages, by_ocr: told.append((page, pages, by_ocr)))
    assert told == [(1, 2, True), (2, 2, True)]


def test_an_ingest_job_shows_the_page_it_is_reading(kb, tmp_path):
    from kb.jobs import JobStore, Runner
    from kb.review import ReviewDB
    db = ReviewDB(f"sqlite:///{tmp_path / 'review.sqlite'}")
    path = _scanned_pdf(tmp_path / "รายงาน.pdf", [None, None, PASSAGE])
    jobs = JobStore(db)
    job = jobs.create("ingest", 1, {})
    upload = db.add_upload(path.name, str(path), path.stat().st_size, None, job.id)
    job.params = {"uploads": [upload["id"]]}
    jobs.save(job)
    written = []
    runner = Runner(kb, db)
    save = runner.jobs.save

    def recording(j, **extra):            # what the poller would see, write by write
        written.append(j.message)
        save(j, **extra)
    runner.jobs.save = recording
    runner.run(job.id)
    pages = [m for m in written if "หน้า" in m]
    # the text-layer pages go by faster than a message is worth; the OCR'd ones are each told
    assert pages[0] == "กำลังอ่าน รายงาน.pdf หน้า 1 จาก 3"
    assert "กำลังอ่าน รายงาน.pdf หน้า 2 จาก 3" not in pages     # within a second of page 1
    assert pages[-1] == "กำลังอ่าน รายงาน.pdf หน้า 3 จาก 3 (OCR)"
    final = jobs.get(job.id)
    assert final.state == "done" and final.result["รายงาน.pdf"] >= 1 and not final.errors
    db.dispose()
