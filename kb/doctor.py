"""`kb doctor`: do the docstore, the vector store and the lexical indexes describe the same chunks?

A document is written in two steps (Chroma, then the docstore in one transaction; see
Store.replace_document), so a process killed between them can leave vectors that no stored chunk
owns (orphans), and a Chroma write lost by a crash of Chroma itself can leave chunks without a
vector (they would never be found by meaning). The lexical indexes are built from the docstore's
tokens, so they can only disagree with it while a process holds a stale copy; the check rebuilds
them and compares.

`check(store)` reports; `repair(store, report)` deletes orphan vectors and embeds missing ones
again from the stored text — it never deletes a document or a chunk of the docstore.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    chunks: int                                   # in the docstore
    vectors: int                                  # in the vector store
    lexical: int                                  # units of the chunk-level lexical index
    lexical_off: int = 0                          # units in the lexical index xor the docstore
    orphan_vectors: list[str] = field(default_factory=list)     # in Chroma, no docstore chunk
    missing_vectors: list[str] = field(default_factory=list)    # docstore chunk, no vector

    @property
    def healthy(self) -> bool:
        return not self.orphan_vectors and not self.missing_vectors and not self.lexical_off

    def lines(self) -> list[str]:
        out = [f"ส่วนข้อความในคลังเอกสาร {self.chunks:,} · เวกเตอร์ {self.vectors:,} · ดัชนีคำ {self.lexical:,}"]
        if self.orphan_vectors:
            out.append(f"เวกเตอร์ที่ไม่มีส่วนข้อความเจ้าของ {len(self.orphan_vectors):,} รายการ "
                       f"(เช่น {', '.join(self.orphan_vectors[:3])})")
        if self.missing_vectors:
            out.append(f"ส่วนข้อความที่ไม่มีเวกเตอร์ {len(self.missing_vectors):,} รายการ "
                       f"(เช่น {', '.join(self.missing_vectors[:3])})")
        if self.lexical_off:
            out.append(f"ดัชนีคำไม่ตรงกับคลังเอกสาร {self.lexical_off:,} รายการ")
        out.append("ผลการตรวจ: ข้อมูลตรงกันทุกส่วน" if self.healthy else "ผลการตรวจ: พบความไม่ตรงกัน")
        return out


def check(store) -> Report:
    chunk_ids = {r[0] for r in store.db.execute("SELECT chunk_id FROM chunks")}
    vector_ids = store.vector_ids()
    store._bm25 = None     # rebuilt from the docstore as it is now, not a copy held in memory
    lexical = set(store.bm25("chunk", "words").ids)
    return Report(chunks=len(chunk_ids), vectors=len(vector_ids), lexical=len(lexical),
                  lexical_off=len(lexical ^ chunk_ids), orphan_vectors=sorted(vector_ids - chunk_ids),
                  missing_vectors=sorted(chunk_ids - vector_ids))


def repair(store, report: Report) -> int:
    """Make the vector store agree with the docstore; the number of vectors changed."""
    with store._lock:
        store.delete_vectors(report.orphan_vectors)
        missing = report.missing_vectors
        for i in range(0, len(missing), 256):
            rows = store.vector_rows(missing[i:i + 256])
            store.add_vectors(rows, store.embedding.embed_array([r["index_text"] for r in rows]))
        with store.db:
            store._bump()       # other processes reload their Chroma client and indexes
    return len(report.orphan_vectors) + len(missing)
