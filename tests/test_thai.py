from textmodel import thai


def test_split_sara_am_is_joined_and_kept_whole():
    assert thai.normalize("ท\u0e4d\u0e32งาน") == "ทำงาน"
    assert thai.normalize("ก\u0e4d\u0e48\u0e32") == "ก\u0e48\u0e33"     # tone between the halves
    assert "\u0e4d" not in thai.match_form("การดําเนินงาน")


def test_tone_mark_after_vowel_and_zero_width_removed():
    assert thai.normalize("ก\u0e48\u0e34น") == "ก\u0e34\u0e48น"
    assert thai.normalize("กรม\u200bบังคับ\ufeffคดี") == "กรมบังคับคดี"


def test_private_use_glyphs_are_mapped_back():
    # legacy fonts put a low-position mai ek at U+F70A
    assert thai.normalize("ท\uf70aาน") == "ท\u0e48าน"


def test_thai_digits_match_arabic_but_display_keeps_them():
    assert thai.normalize("พ.ศ. ๒๕๖๔") == "พ.ศ. ๒๕๖๔"
    assert thai.match_form("พ.ศ. ๒๕๖๔") == "พ.ศ. 2564"
    assert "2564" in thai.tokenize("ปีงบประมาณ ๒๕๖๔")


def test_pdf_spaced_words_are_repaired():
    broken = "กร มบัง คับ คดี เปิ ด ให้ บ ริการ ระ บบ"
    assert thai.repair_pdf_text(broken) == "กรมบังคับคดีเปิดให้บริการระบบ"
    normal = "กรมบังคับคดี เปิดให้บริการ ระบบใหม่ ในปีนี้"
    assert thai.repair_pdf_text(normal) == normal


def test_garbled_detection():
    assert thai.looks_garbled("\uf70a\uf70b\uf701" * 10)
    assert not thai.looks_garbled("กรมบังคับคดีเปิดให้บริการระบบ e-Filing")


def test_tokenize_drops_spaces_and_punctuation():
    toks = thai.tokenize("ระบบ e-Filing, LED Queue!")
    assert "e-filing" in toks and "led" in toks and "," not in toks and " " not in toks


def test_sentences_keep_buddhist_year_with_its_sentence():
    text = ("กรมบังคับคดีเปิดให้บริการระบบ e-Filing ในปี พ.ศ. 2564 จำนวน 1,234 คำร้อง "
            "ผลการดำเนินงานเป็นไปตามเป้าหมาย จากนั้นได้จัดประชุมผู้บริหารเพื่อติดตามผลการดำเนินงานทุกเดือน")
    sents = thai.sentences(text)
    assert len(sents) >= 2
    assert any("พ.ศ. 2564" in s for s in sents)


def test_fiscal_year_from_name_then_text():
    assert thai.fiscal_year("อะไรก็ได้", "efiling-2563.xlsx") == 2563
    assert thai.fiscal_year("รายงานประจำปีงบประมาณ พ.ศ. ๒๕๖๔ และ พ.ศ. 2563") == 2564
    assert thai.fiscal_year("no year here") is None
    # a year range in the name: the text names the year of this copy, else the range's end
    assert thai.fiscal_year("ฉบับทบทวน ประจำปีงบประมาณ พ.ศ. 2564", "digital-plan-2561-2565.pdf") == 2564
    assert thai.fiscal_year("แผนระยะยาว", "digital-plan-2561-2565.pdf") == 2565


def test_char_grams_run_words_together():
    assert thai.char_grams(["ถุง", "ผ้า"]) == ["ถุง", "ุงผ", "งผ้", "ผ้า"]
    assert thai.char_grams(["ab"]) == []


def test_whole_sentences_glue_a_cut_clause_back():
    # crfcut cuts at the space before "ที่" / "ได้แก่": as answer items those pieces are fragments
    text = ("ศูนย์ปฏิบัติการต่อต้านการทุจริตสรุปผลการดำเนินงานตลอดปีเพื่อเสนอผู้บริหารและเผยแพร่ต่อสาธารณะ "
            "ที่ https://www.example.go.th/disclosure กองยุทธศาสตร์นำผลการสำรวจไปใช้ร่วมกับข้อมูลจากแหล่งอื่น "
            "ได้แก่ข้อมูลความจำเป็นพื้นฐานระดับหมู่บ้าน และข้อมูลทะเบียนระบบประปาชุมชน")
    whole = thai.sentences(text, whole=True)
    assert not any(s.startswith(("ที่", "ได้แก่", "และ")) for s in whole)
    assert any("ต่อสาธารณะ ที่ https://" in s for s in whole)
    # chunking keeps the finer split, the same text
    fine = thai.sentences(text)
    assert any(s.startswith("ได้แก่") for s in fine)
    assert "".join(fine).replace(" ", "") == "".join(whole).replace(" ", "")
