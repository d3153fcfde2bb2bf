"""The IR metrics behind `kb eval`, checked against hand-computed values."""
import math

import pytest

from kb.evaluate import read_qrels, score_ranking


def test_perfect_and_empty_rankings():
    assert score_ranking(["a", "b"], {"a": 2}) == {"R@1": 1.0, "MRR@10": 1.0, "Recall@10": 1.0, "nDCG@10": 1.0, "P@5": 0.2}
    assert score_ranking([], {"a": 1}) == {"R@1": 0.0, "MRR@10": 0.0, "Recall@10": 0.0, "nDCG@10": 0.0, "P@5": 0.0}


def test_graded_ndcg_and_mrr_by_hand():
    s = score_ranking(["x", "b", "a"], {"a": 2, "b": 1})
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    ideal = 2 + 1 / math.log2(3)
    assert s["nDCG@10"] == pytest.approx(dcg / ideal)
    assert s["MRR@10"] == 0.5 and s["R@1"] == 0.0 and s["Recall@10"] == 1.0


def test_qrels_file_comments_blank_lines_and_errors(tmp_path):
    f = tmp_path / "q.tsv"
    f.write_text("# comment\n\n1.1.1\ta.pdf\t2\n1.1.1\tb.docx\t1\n3.4.3\tc.xlsx\t2\n", encoding="utf-8")
    assert read_qrels(f) == {"1.1.1": {"a.pdf": 2, "b.docx": 1}, "3.4.3": {"c.xlsx": 2}}
    f.write_text("# header\n1.1.1\ta.pdf\t2\n1.1.1\ta.pdf\ttwo\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3"):
        read_qrels(f)
