"""What the quality work rests on: the params file, filled-in forms in the official table
layout, `kb eval … --out/--previous`, the assessed year, and citations across a chunk cut."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kb import params
from kb.criteria import load_catalogue


# --- params -------------------------------------------------------------------------------------

def test_params_file_holds_every_tuned_value_and_rejects_unknown_ones(tmp_path):
    shipped = params.load()
    assert shipped == params.active()
    assert shipped.draft.max_items >= 3 and 0 < shipped.abstain.below < shipped.abstain.weak_support
    assert "evidence.weight_previous" in shipped.values()
    bad = tmp_path / "p.toml"
    bad.write_text("[evidence]\nweight_dens = 2.0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="weight_dens"):
        params.load(bad)
    bad.write_text("[evidnce]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="evidnce"):
        params.load(bad)
    changed = shipped.with_values(**{"draft.max_items": 5})
    with params.using(changed):
        assert params.active().draft.max_items == 5
    assert params.active().draft.max_items == shipped.draft.max_items


def test_kb_params_environment_points_a_process_at_another_file(tmp_path, monkeypatch):
    other = tmp_path / "p.toml"
    other.write_text("[draft]\nmax_items = 4\n", encoding="utf-8")
    monkeypatch.setenv("KB_PARAMS", str(other))
    assert params.active().draft.max_items == 4
    assert params.active().evidence == params.EvidenceParams()       # the rest: defaults


# --- a filled-in form in the official table layout -----------------------------------------------

def table_form(path: Path, year: int, n: int = 94) -> list[str]:
    """A form of `n` criteria laid out as the official DOCX: per criterion a table row of
    check box | code | wording followed by the agency's answer. Returns the codes answered."""
    import docx
    d = docx.Document()
    d.add_paragraph("แบบฟอร์มที่ 3")
    d.add_paragraph(f"แบบประเมินสถานะการเป็นระบบราชการ 4.0 ด้วยตนเอง ประจำปี พ.ศ. {year}")
    codes: list = []
    for category in load_catalogue().categories:
        d.add_paragraph(f"หมวด {category.number} {category.title}")
        for item in category.items:
            d.add_paragraph(f"{item.code} {item.title}")
            table = d.add_table(rows=0, cols=3)
            for c in item.criteria:
                if len(codes) == n:
                    break
                row = table.add_row().cells
                row[0].text = "☑"
                row[1].text = c.code
                row[2].text = (f"{c.wording} คือ ระบบติดตามงานสารบรรณ DocTrack รุ่นที่ {len(codes) + 1} "
                               f"ใช้งาน {100 + len(codes)} หน่วย")
                codes.append(c)
    d.save(path)
    return [c.code for c in codes]


def test_a_form_in_the_official_table_layout_is_recognised_as_last_years_answers(tmp_path):
    from kb.previous import form_text, looks_like_form, read_form
    path = tmp_path / "previous_form.docx"
    codes = table_form(path, 2566)
    assert looks_like_form(form_text(path))
    year, answers = read_form(path)
    assert year == 2566
    answered = {a.code: a.answer for a in answers if a.answer}
    assert set(codes) <= set(answered) and "DocTrack" in answered[codes[0]]


# --- kb eval --out / --previous --------------------------------------------------------------------

def test_eval_criteria_and_drafts_write_lines_and_load_the_previous_form(tmp_path, docs):
    from click.testing import CliRunner

    from kb import cli
    form = tmp_path / "previous_form.docx"
    table_form(form, 2563)
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("1.3.1\tefiling-policy-2564.md\t2\n1.1.1\tgreen-office-2564.txt\t2\n", encoding="utf-8")
    out = tmp_path / "criteria.jsonl"
    r = CliRunner().invoke(cli.main, ["eval", "criteria", "--docs", str(docs), "--qrels", str(qrels),
                                      "--out", str(out), "--previous", str(form), "--quiet"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["criteria"] == 2 and result["previous"] == str(form)
    assert result["documents"] == len(list(docs.iterdir()))        # the form is not evidence
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert {x["code"] for x in lines} == {"1.3.1", "1.1.1"}
    first = lines[0]["documents"][0]
    assert set(first) == {"file_name", "score", "grade"} and first["file_name"] != form.name

    from draft_support import write_docs
    docs = write_docs(tmp_path / "draft-docs")
    expect = tmp_path / "expect.tsv"
    expect.write_text("3.4.3\tการได้รับบริการล่าช้า|LED Queue|ไม่มีในเอกสาร\n4.2.3\t\n", encoding="utf-8")
    out = tmp_path / "drafts.jsonl"
    r = CliRunner().invoke(cli.main, ["eval", "drafts", "--docs", str(docs), "--expect", str(expect),
                                      "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert {"median_items", "median_characters", "key_term_recall", "sentences_per_draft"} <= set(result)
    rows = {x["code"]: x for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    answered = rows["3.4.3"]
    assert not answered["abstained"] and answered["items"] and answered["sources"]
    assert "ไม่มีในเอกสาร" in answered["missed"] and answered["matched"]
    assert set(answered["matched"]) | set(answered["missed"]) == {"การได้รับบริการล่าช้า", "LED Queue", "ไม่มีในเอกสาร"}
    assert rows["4.2.3"]["abstained"] and rows["4.2.3"]["should_abstain"]
    assert result["median_items"] == len(answered["items"])
    assert result["median_characters"] == sum(len(i["text"]) for i in answered["items"])


def test_eval_previous_that_is_not_a_form_is_a_clear_error(tmp_path, docs):
    from click.testing import CliRunner

    from kb import cli
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("1.3.1\tefiling-policy-2564.md\t2\n", encoding="utf-8")
    not_form = docs / "efiling-policy-2564.md"
    r = CliRunner().invoke(cli.main, ["eval", "criteria", "--docs", str(docs), "--qrels", str(qrels),
                                      "--previous", str(not_form), "--quiet"])
    assert r.exit_code != 0 and "efiling-policy-2564.md" in r.output and "แบบฟอร์มที่ 3" in r.output


# --- the year assessed, the previous answer as a way of asking -----------------------------------

def test_the_year_assessed_is_the_year_most_documents_are_of_or_after_the_previous_form(kb, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for name, year in (("a.md", 2564), ("b.md", 2564), ("news.md", 2565)):
        (d / name).write_text(f"# รายงาน\n\nประจำปีงบประมาณ พ.ศ. {year} ระบบติดตามงาน e-Office ใช้งานทุกกอง\n",
                              encoding="utf-8")
    kb.ingest([d], progress=False)
    assert kb.assessment_year() == 2564           # not 2565: one news item of next year
    table_form(tmp_path / "form.docx", 2565)
    kb.ingest([tmp_path / "form.docx"], progress=False)
    assert kb.assessment_year() == 2566
    assert "DocTrack" in kb.previous_answer("1.1.1")


def test_previous_answer_and_example_answer_are_weighted_ways_of_asking():
    from kb.evidence import ways_of_asking
    criterion = load_catalogue().get("1.1.2")
    base = params.EvidenceParams()
    plain = ways_of_asking(criterion, "ระบบ DocTrack", base)
    assert all("DocTrack" not in a.text for a in plain)          # weight 0: not asked
    asked = ways_of_asking(criterion, "1. ระบบ DocTrack 2. แอป ประปาใส",
                           params.EvidenceParams(weight_previous=2.0, weight_example=0.5))
    mine = [a for a in asked if "DocTrack" in a.text]
    assert len(mine) == 1 and mine[0].weight == 2.0 and "1." not in mine[0].text
    assert any(a.weight == 0.5 for a in asked)                   # the catalogue's example answer


def test_generic_documents_lose_the_share_of_their_mean_score():
    from kb.evidence import combine_weighted
    runs = {"a": [("hub", 10.0), ("kpi", 9.0)], "b": [("kpi", 4.0), ("hub", 4.0)]}
    scores = combine_weighted(runs, {"a": 1.0, "b": 1.0})
    assert scores["hub"] == pytest.approx(0.5 * 1 + 0.5 * 1) and scores["kpi"] == pytest.approx(0.5 * 0.9 + 0.5)
    assert combine_weighted(runs, {"a": 0.0, "b": 1.0})["kpi"] == pytest.approx(1.0)


# --- a sentence cut by the chunker cites both chunks --------------------------------------------

def test_an_item_whose_name_is_in_the_next_chunk_cites_that_chunk_too():
    from kb.draft import cite_neighbours
    first = SimpleNamespace(chunk_id="doc:3", text="ค่านิยมองค์กร SAFE ได้แก่")
    second = SimpleNamespace(chunk_id="doc:4", text="Service Agility Fairness และ Expertise ใช้ประเมินผลงาน")
    items = [(None, "ค่านิยมองค์กร SAFE ได้แก่ Service Agility Fairness และ Expertise", ["doc:3"]),
             (None, "ค่านิยมองค์กร SAFE", ["doc:3"])]
    neighbours = {"doc:3": [second, SimpleNamespace(chunk_id="doc:2", text="บทนำ")]}
    out, by_key = cite_neighbours(items, {"doc:3": first}, neighbours)
    assert out[0][2] == ["doc:3", "doc:4"] and by_key["doc:4"] is second
    assert out[1][2] == ["doc:3"]                   # supported by its own chunk: left alone


def test_last_years_answer_favours_sentences_naming_the_same_systems_not_figures():
    from kb.extract import Candidate, _names, favour_named

    def cand(text):
        return Candidate(text, frozenset(), None, 0, (0, 0), score=1.0, names=frozenset(_names(text)))
    same_system, same_figure, other = (cand("ระบบ RainLog แจ้งเตือน 12,345 ครั้ง"),
                                       cand("จัดอบรม 731 ระบบ"), cand("จัดประชุมคณะทำงาน"))
    with params.using(params.active().with_values(**{"draft.previous_bonus": 0.5})):
        favour_named([same_system, same_figure, other], "ติดตั้ง RainLog เพิ่ม 731 ระบบ")
    assert same_system.score == pytest.approx(1.5)
    assert same_figure.score == other.score == 1.0


def test_a_name_another_evidence_document_states_too_corroborates_a_sentence_a_figure_does_not():
    from types import SimpleNamespace as NS

    from kb.extract import Candidate, _names, corroborate

    def hit(file, text):
        return NS(file_name=file, text=text)

    def cand(text, h):
        return Candidate(text, frozenset(), h, 0, (0, 0), score=1.0, names=frozenset(_names(text)))
    report = hit("report.pdf", "ระบบ RainLog แจ้งเตือน 12,345 ครั้ง ปี 2567")
    minutes = hit("minutes.docx", "ที่ประชุมรับทราบผลของระบบ RainLog ปี 2567 จำนวน 12,345 ครั้ง")
    named, figure_only = (cand("ระบบ RainLog แจ้งเตือน", report), cand("จำนวน 12,345 ครั้ง ปี 2567", report))
    alone = cand("ระบบ SoilNet ทดลองใช้", report)
    corroborate([named, figure_only, alone], [report, minutes])
    assert named.corroborated == 1                  # the minutes name RainLog too
    assert figure_only.corroborated == 0            # figures repeat by chance: not counted
    assert alone.corroborated == 0                  # only its own document names SoilNet
