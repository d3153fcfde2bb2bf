"""The `kb` command as a user runs it (a real subprocess, real store)."""
import json
import os
import subprocess
import sys



def kb(*args, data_dir, check=True):
    env = {**os.environ, "KB_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-m", "kb.cli", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"kb {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def test_criteria_tree_and_one_criterion(tmp_path):
    tree = kb("criteria", data_dir=tmp_path).stdout
    assert "หมวด 1" in tree and "6.4.4" in tree
    one = kb("criteria", "3.4.3", data_dir=tmp_path).stdout
    assert "3.4.3" in one and "ข้อร้องเรียน" in one
    bad = kb("criteria", "9.9.9", data_dir=tmp_path, check=False)
    assert bad.returncode != 0 and "unknown criterion code '9.9.9'" in bad.stderr


def test_ingest_search_evidence_remove(tmp_path, docs):
    data = tmp_path / "data"
    out = kb("ingest", str(docs), "--quiet", data_dir=data).stdout
    assert "4 files: 4 ingested" in out
    again = kb("ingest", str(docs), "--quiet", data_dir=data).stdout
    assert "4 unchanged" in again
    hits = json.loads(kb("search", "e-Filing", "--json", "-k", "2", data_dir=data).stdout)
    assert hits[0]["file_name"] == "efiling-policy-2564.md"
    text = kb("search", "LED Queue", "--type", "xlsx", data_dir=data).stdout
    assert "led-queue-2564.xlsx" in text and "แถว" in text
    ev = json.loads(kb("evidence", "1.3.1", "--json", data_dir=data).stdout)
    assert ev["code"] == "1.3.1" and ev["documents"][0]["passages"][0]["best_sentence"]
    assert "removed" in kb("remove", "canteen-menu.html", data_dir=data).stdout
    gone = kb("remove", "canteen-menu.html", data_dir=data, check=False)
    assert gone.returncode == 1 and "no stored document matches" in gone.stderr


def test_ingest_reports_bad_files_on_one_line_each(tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"not a pdf")
    proc = kb("ingest", str(bad), "--quiet", data_dir=tmp_path / "data", check=False)
    assert proc.returncode == 1
    assert "error: broken.pdf:" in proc.stderr and "1 errors" in proc.stdout


def test_eval_criteria_prints_one_json_object(tmp_path, docs):
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("# code<TAB>file<TAB>grade\n1.3.1\tefiling-policy-2564.md\t2\n"
                     "1.1.1\tgreen-office-2564.txt\t2\n\n", encoding="utf-8")
    proc = kb("eval", "criteria", "--docs", str(docs), "--qrels", str(qrels), "--quiet", data_dir=tmp_path / "user")
    result = json.loads(proc.stdout)
    assert result["criteria"] == 2 and set(result) >= {"nDCG@10", "Recall@10", "MRR@10", "P@5"}
    assert result["Recall@10"] == 1.0
    assert not (tmp_path / "user").exists()          # never the user's store
    qrels.write_text("1.1.1 only-two-columns\n", encoding="utf-8")
    bad = kb("eval", "criteria", "--docs", str(docs), "--qrels", str(qrels), data_dir=tmp_path, check=False)
    assert bad.returncode != 0 and "line 1" in bad.stderr


def test_eval_retrieval_on_a_tiny_beir_set(tmp_path):
    d = tmp_path / "beir"
    (d / "qrels").mkdir(parents=True)
    passages = {"p1": ("กรมบังคับคดี", "กรมบังคับคดีเป็นหน่วยงานในสังกัดกระทรวงยุติธรรม ทำหน้าที่บังคับคดีแพ่ง"),
                "p2": ("ช้างไทย", "ช้างเป็นสัตว์ประจำชาติของไทย อาศัยอยู่ในป่าเขตร้อน"),
                "p3": ("ข้าวเหนียว", "ข้าวเหนียวนิยมรับประทานในภาคเหนือและภาคตะวันออกเฉียงเหนือ")}
    (d / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": k, "title": t, "text": x}, ensure_ascii=False)
                                              for k, (t, x) in passages.items()), encoding="utf-8")
    (d / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "กรมบังคับคดีสังกัดกระทรวงอะไร"}, ensure_ascii=False)
                                     + "\n" + json.dumps({"_id": "q2", "text": "สัตว์ประจำชาติไทยคืออะไร"}, ensure_ascii=False),
                                     encoding="utf-8")
    (d / "qrels/test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\nq2\tp2\t1\n", encoding="utf-8")
    result = json.loads(kb("eval", "retrieval", "--beir", str(d), "--quiet", data_dir=tmp_path / "user").stdout)
    assert result["queries"] == 2 and result["R@1"] == 100.0
    assert set(result["bm25"]) == set(result["dense"]) == {"R@1", "MRR@10", "Recall@10", "nDCG@10"}
    missing = kb("eval", "retrieval", "--beir", str(tmp_path), data_dir=tmp_path, check=False)
    assert missing.returncode != 0 and "not a BEIR folder" in missing.stderr


def test_worker_refuses_a_queue_url_it_cannot_use(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_QUEUE_URL", "http://127.0.0.1:6379")
    bad = kb("worker", data_dir=tmp_path, check=False)
    assert bad.returncode == 1 and "KB_QUEUE_URL must be a redis:// URL" in bad.stderr
    assert not (tmp_path / "queue.sqlite").exists()
