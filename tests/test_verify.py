"""The verifier on its own: facts, citations, verdicts (no store needed)."""
from kb import verify
from kb.verify import SUPPORTED, UNCITED, UNSUPPORTED, check_sentence

SOURCES = {
    1: "ในปีงบประมาณ พ.ศ. 2564 มีการยื่นคำร้องผ่านระบบ E-Filing รวม 12345 คำร้อง "
       "และผลักดันทรัพย์สินได้ 178,246 ล้านบาท ความพึงพอใจร้อยละ 76.80",
    2: "จัดระบบคิวผ่านแอปพลิเคชัน LED Queue ตามโครงการ “หนึ่งสำนักงานหนึ่งนวัตกรรม”",
}


def test_thai_digits_separators_and_trailing_zeros_match():
    s = "ปี พ.ศ. ๒๕๖๔ มีคำร้องผ่านระบบ e-Filing ๑๒,๓๔๕ คำร้อง ความพึงพอใจร้อยละ 76.8"
    check = check_sentence(s, [1], SOURCES)
    assert check.verdict == SUPPORTED, check.problems


def test_invented_number_is_unsupported_and_named():
    check = check_sentence("มีคำร้องผ่านระบบ e-Filing 99,999 คำร้อง", [1], SOURCES)
    assert check.verdict == UNSUPPORTED
    assert [f.text for f in check.unsupported] == ["99,999"]
    assert "99,999" in check.problems[0]


def test_scale_word_must_match():
    # 178,246 ล้านบาท is not 178,246 พันล้านบาท
    assert check_sentence("ผลักดันทรัพย์สินได้ 178,246 ล้านบาท", [1], SOURCES).verdict == SUPPORTED
    bad = check_sentence("ผลักดันทรัพย์สินได้ 178,246 พันล้านบาท", [1], SOURCES)
    assert bad.verdict == UNSUPPORTED and "178,246 พันล้าน" in bad.problems[0]


def test_buddhist_and_christian_era_years_are_the_same_year():
    assert check_sentence("ในปี 2021 มีการยื่นคำร้องผ่านระบบ e-Filing", [1], SOURCES).verdict == SUPPORTED


def test_number_in_another_source_does_not_count():
    check = check_sentence("จัดระบบคิวผ่าน LED Queue รวม 12,345 คำร้อง", [2], SOURCES)
    assert check.verdict == UNSUPPORTED
    assert [f.text for f in check.unsupported] == ["12,345"]


def test_latin_names_must_appear_as_a_run():
    assert check_sentence("จองคิวผ่าน LED queue", [2], SOURCES).verdict == SUPPORTED
    bad = check_sentence("จองคิวผ่าน LED Queue Plus", [2], SOURCES)
    assert bad.verdict == UNSUPPORTED and "LED Queue Plus" in bad.problems[0]


def test_quoted_and_known_thai_names():
    known = verify.known_names(list(SOURCES.values()))
    assert check_sentence("โครงการ “หนึ่งสำนักงานหนึ่งนวัตกรรม”", [2], SOURCES, known).verdict == SUPPORTED
    # the name is known from source 2 but the sentence cites source 1 only
    moved = check_sentence("ขับเคลื่อนหนึ่งสำนักงานหนึ่งนวัตกรรม", [1], SOURCES, known)
    assert moved.verdict == UNSUPPORTED


def test_citation_of_a_missing_source():
    check = check_sentence("ยื่นคำร้องผ่านระบบ e-Filing", [1, 7], SOURCES)
    assert check.verdict == UNSUPPORTED and check.bad_citations == [7]
    assert "[7]" in check.problems[0]


def test_uncited_sentence():
    check = check_sentence("กรมได้รับรางวัลระดับโลก", [], SOURCES)
    assert check.verdict == UNCITED and check.problems


def test_claim_the_source_never_made_is_unsupported_by_word_overlap():
    check = check_sentence("กรมจัดการประกวดร้องเพลงประสานเสียงนานาชาติทุกปี", [2], SOURCES)
    assert check.verdict == UNSUPPORTED and "ถ้อยคำ" in check.problems[0]


def test_list_enumerators_are_not_facts():
    assert verify.numbers("ได้แก่ 1. การจองคิว 2. การลงทะเบียน") == []


def test_citation_markers():
    assert verify.citations_in("ข้อความ [1][๒] และ [3, 4]") == [1, 2, 3, 4]
    assert verify.strip_citations("ข้อความ [1][๒]") == "ข้อความ"


def test_a_name_broken_across_pdf_lines_is_the_same_name():
    page = {1: "ค่านิยมองค์กร SAFE ได้แก่ Service\nAgility Fairness และ Expertise"}
    ok = check_sentence("ค่านิยมองค์กร SAFE ได้แก่ Service Agility Fairness และ Expertise", [1], page)
    assert ok.verdict == SUPPORTED, ok.problems
    assert check_sentence("ค่านิยม Service Agility Trust", [1], page).verdict == UNSUPPORTED


def test_an_enumerator_a_cut_sentence_ends_on_is_not_a_fact():
    page = {1: "(4) การบริหารการเงิน และ (5) การกำกับมาตรฐาน"}
    assert verify.numbers("… การบริหารการเงิน และ (5)") == []
    assert check_sentence("… การบริหารการเงิน และ (5)", [1], page).verdict == SUPPORTED
    assert [f.key for f in verify.numbers("อัตราร้อยละ 25")] == ["25"]      # a figure still is
