"""The evidence store: Chroma (vectors, through llama-index), BM25 (bm25s) and a SQLite docstore.

The SQLite docstore is the source of truth for documents and chunk texts. Chroma holds the
vectors of exactly those chunks; the BM25 index is derived from the docstore and rebuilt
lazily whenever the docstore's generation counter moves. A document is replaced as a whole:
its new chunks are embedded first (the slow, failure-prone step), so a failure leaves the
old version in place.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import bm25s
import numpy as np

from textmodel import thai
from textmodel.records import Document
from kb.config import Settings

# Chroma must never phone home, and must never embed by itself (its default embedding
# function downloads a model): we always hand it our vectors.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@dataclass
class LexicalIndex:
    """A bm25s index with the ids of its units (chunk ids or file names) and, per unit, the
    columns that search filters apply to."""
    generation: int
    index: "bm25s.BM25"
    ids: list[str]
    cols: dict[str, np.ndarray]

    def top(self, tokens: list[str], k: int, filters: list[tuple[str, object]] = ()) -> list[tuple[str, float]]:
        if not self.ids or not tokens:
            return []
        scores = self.index.get_scores(tokens)
        for key, value in filters:
            scores = np.where(self.cols[key] == value, scores, 0.0)
        top = np.argsort(-scores)[:k]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]


class StoreError(Exception):
    """A problem with the store a user can act on (model mismatch, unreachable server …)."""


# HNSW search breadth. Retrieval takes 100 candidates per run; with Chroma's default breadth
# (100) the tail of those 100 is approximate and changes from one process to the next, and so
# would evidence rankings and drafts. Four times the pool makes it exact on the sample corpus
# and reproducible; `bench/run.py` measured recall of the exact 100 nearest at 0.88 → 0.995
# (10k chunks) and 0.78 → 0.965 (50k) for about 1–1.5 ms more per query (docs/benchmarks.md).
SEARCH_EF = 400

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
  doc_id TEXT PRIMARY KEY, path TEXT NOT NULL UNIQUE, file_name TEXT NOT NULL,
  sha256 TEXT NOT NULL, title TEXT NOT NULL, fiscal_year INTEGER, doc_type TEXT NOT NULL,
  n_chunks INTEGER NOT NULL, ingested_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
  chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL, text TEXT NOT NULL, index_text TEXT NOT NULL,
  page INTEGER, sheet TEXT, row_start INTEGER, row_end INTEGER, heading TEXT,
  tokens TEXT NOT NULL, table_no INTEGER, origin TEXT NOT NULL DEFAULT 'text', ocr_confidence REAL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
"""


# Columns added to `chunks` after the first release, in order (see Store._add_columns).
CHUNK_COLUMNS_ADDED = (("table_no", "INTEGER"), ("origin", "TEXT NOT NULL DEFAULT 'text'"),
                       ("ocr_confidence", "REAL"))
CHUNK_COLUMNS = ("chunk_id, doc_id, ordinal, text, index_text, page, sheet, row_start, row_end, heading, "
                 "tokens, table_no, origin, ocr_confidence")


class Store:
    def __init__(self, settings: Settings, embedding=None, check_model: bool = True):
        self.settings = settings
        self.dir = Path(settings.data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        # one SQLite connection per thread (`db`), in WAL mode: a reader never sees, and a
        # commit on another thread never commits, a document replacement half-written
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.RLock()
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.executescript(SCHEMA)
        self._add_columns()
        self._relative_paths()
        self._embedding = embedding
        self._vector_store = None
        self._bm25: dict[tuple[str, str], LexicalIndex] | None = None    # by (level, terms)
        self._client = None
        self._vectors_generation: int | None = None   # the generation the Chroma client last saw
        self._vectors_cond = threading.Condition()     # guards the client and its readers
        self._vectors_readers = 0                     # queries running on the current client
        if check_model:       # `kb reindex` opens a store to move it to another model
            self._check_model()

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection to docstore.sqlite (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread off only so that close() may close every thread's connection
            conn = sqlite3.connect(self.dir / "docstore.sqlite", timeout=30, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _add_columns(self) -> None:
        """A store written before a provenance column existed gets it, empty (= the text layer)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(chunks)")}
        with self.db:
            for name, decl in CHUNK_COLUMNS_ADDED:
                if name not in have:
                    self.db.execute(f"ALTER TABLE chunks ADD COLUMN {name} {decl}")

    # --- where documents are -------------------------------------------------------------------
    # A document is recorded by its key: the path relative to the data directory for a file kept
    # there (uploads), else the absolute path (a folder ingested from the command line). A copy
    # of the data directory restored elsewhere then still finds its files. The doc_id a document
    # got when first stored stays with it: review data refers to it.

    def key_of(self, path: Path | str) -> str:
        """The key of a file. A relative path is taken as a key already (what the store hands out);
        callers with a path relative to the working directory resolve it first."""
        p = Path(path)
        if not p.is_absolute():
            return p.as_posix()
        try:
            return p.relative_to(self.dir.resolve()).as_posix()
        except ValueError:
            return str(p)

    def file_of(self, key: str) -> Path:
        """Where the file of a stored key is on disk."""
        p = Path(key)
        return p if p.is_absolute() else self.dir.resolve() / p

    @property
    def library(self):
        """The folder of the documents' files (kb/library.py)."""
        from kb.library import FOLDER, Library
        return Library(self.dir / FOLDER)

    def original(self, key: str, sha256: str | None = None) -> Path:
        """The file whose text the store holds for `key`: in the library, the kept version of that
        content when a newer file took its name (its ingest pending, or failed)."""
        path = self.file_of(key)
        if sha256 and self.library.holds(path):
            return self.library.file_with(self.library.name_of(path), sha256) or path
        return path

    def rename_document(self, old_key: str, new_key: str) -> sqlite3.Row | None:
        """Record the document at `old_key` under `new_key` (same id, chunks and review data);
        the document as now recorded, or None if there is none at `old_key`."""
        old_key, new_key = self.key_of(old_key), self.key_of(new_key)
        with self._lock, self.db:
            if self.db.execute("UPDATE documents SET path = ? WHERE path = ?", (new_key, old_key)).rowcount:
                self._bump()
        return self.document(new_key)

    def _relative_paths(self) -> None:
        """Stores written before keys were relative recorded files in the data directory by their
        absolute path: rewritten once, ids unchanged."""
        inside = str(self.dir.resolve()) + "/"
        rows = self.db.execute("SELECT doc_id, path FROM documents WHERE substr(path, 1, ?) = ?",
                               (len(inside), inside)).fetchall()
        if rows:
            with self.db:
                self.db.executemany("UPDATE documents SET path = ? WHERE doc_id = ?",
                                    [(self.key_of(r["path"]), r["doc_id"]) for r in rows])

    # --- model bookkeeping -------------------------------------------------------------------

    @property
    def embedding(self):
        if self._embedding is None:
            from kb.embeddings import get_embedding
            self._embedding = get_embedding(self.settings.embed_model)
        return self._embedding

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    def _check_model(self) -> None:
        built_with = self.meta("embed_model")
        if built_with and built_with != self.settings.embed_model:
            raise StoreError(
                f"this store was built with embedding model '{built_with}', but the configured "
                f"model is '{self.settings.embed_model}'; vectors of different models cannot be "
                f"mixed: set KB_EMBED_MODEL={built_with}, or run 'kb reindex' to re-embed "
                f"everything with the new model")

    def _record_model(self) -> None:
        if not self.meta("embed_model"):
            self._set_meta("embed_model", self.settings.embed_model)
            self._set_meta("embed_dim", self.embedding.dim)

    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def _bump(self) -> None:
        # an increment in SQL, so two processes writing (web app, worker, CLI) never lose one
        before = self.generation()
        self.db.execute("INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE "
                        "SET value = CAST(value AS INTEGER) + 1")
        if self._vectors_generation == before:
            self._vectors_generation = before + 1     # our own write: the client saw it

    # --- Chroma ------------------------------------------------------------------------------

    @property
    def vectors(self):
        """The llama-index ChromaVectorStore over our collection (created on first use).

        An embedded (PersistentClient) Chroma keeps its vector index in memory and does not see
        what another process wrote since it loaded it: queries miss the new vectors and reading
        them fails ("Error finding id"). So when the generation moved under us (a worker
        ingested), the client is closed and opened again, reloading from disk — once the
        queries running on the old client (`reading_vectors`) have finished."""
        with self._vectors_cond:
            return self._current_vectors()

    @contextmanager
    def reading_vectors(self):
        """The vector store for one query: a reopen waits until the query is done."""
        with self._vectors_cond:
            vs = self._current_vectors()
            self._vectors_readers += 1
        try:
            yield vs
        finally:
            with self._vectors_cond:
                self._vectors_readers -= 1
                self._vectors_cond.notify_all()

    def _current_vectors(self):
        # the caller holds self._vectors_cond
        if self._vector_store is not None and not self.settings.chroma_url \
                and self._vectors_generation != self.generation():
            while self._vectors_readers:
                self._vectors_cond.wait()
            old, self._client, self._vector_store = self._client, None, None
            try:
                old.close()
            except Exception:  # noqa: BLE001 - an older client without close(), or closed
                pass
        if self._vector_store is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings
            from llama_index.vector_stores.chroma import ChromaVectorStore
            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            url = self.settings.chroma_url
            seen = self.generation()        # before opening: a write meanwhile means reopen later
            try:
                if url:
                    from urllib.parse import urlparse
                    u = urlparse(url)
                    client = chromadb.HttpClient(host=u.hostname, port=u.port or 8000,
                                                 ssl=u.scheme == "https", settings=chroma_settings)
                    client.heartbeat()
                else:
                    client = chromadb.PersistentClient(path=str(self.dir / "chroma"),
                                                       settings=chroma_settings)
                collection = self._collection(client)
            except Exception as exc:  # network errors, bad URL, incompatible server
                where = f"Chroma server at {url}" if url else f"Chroma store in {self.dir / 'chroma'}"
                raise StoreError(f"cannot open {where}: {exc}") from exc
            self._client = client
            self._vectors_generation = seen
            self._vector_store = ChromaVectorStore(chroma_collection=collection)
        return self._vector_store

    def _collection(self, client):
        collection = client.get_or_create_collection(
            self.settings.collection, embedding_function=None,
            metadata={"hnsw:space": "cosine", "hnsw:search_ef": SEARCH_EF})
        # a store made before SEARCH_EF was set (or with a smaller one) is widened in place; this
        # must happen before the first query, as a process keeps the breadth it loaded the index with
        hnsw = (collection.configuration_json or {}).get("hnsw") or {}
        if hnsw.get("ef_search", SEARCH_EF) < SEARCH_EF:
            collection.modify(configuration={"hnsw": {"ef_search": SEARCH_EF}})
        return collection

    # the docstore columns a vector's metadata is made from (see _nodes)
    _VECTOR_ROWS = ("SELECT c.chunk_id, c.doc_id, c.index_text, d.file_name, d.doc_type, d.fiscal_year "
                    "FROM chunks c JOIN documents d USING (doc_id)")

    def vector_rows(self, chunk_ids: list[str] | None = None) -> list[dict]:
        """What add_vectors needs of each chunk, from the docstore: all chunks (by id), or those named."""
        if chunk_ids is None:
            return [dict(r) for r in self.db.execute(self._VECTOR_ROWS + " ORDER BY c.chunk_id")]
        out: list[dict] = []
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i:i + 500]
            out += [dict(r) for r in self.db.execute(
                self._VECTOR_ROWS + f" WHERE c.chunk_id IN ({','.join('?' * len(part))})", part)]
        return out

    def add_vectors(self, rows: list[dict], vectors) -> None:
        """Put the chunks' vectors into Chroma (rows as from vector_rows)."""
        if rows:
            self.vectors.add(self._nodes(rows, vectors))

    def vector_ids(self, page: int = 5000) -> set[str]:
        """The id of every vector Chroma holds, read page by page."""
        ids: set[str] = set()
        with self.reading_vectors() as vs:
            for offset in range(0, vs._collection.count(), page):
                ids.update(vs._collection.get(include=[], limit=page, offset=offset)["ids"])
        return ids

    def vector_count(self) -> int:
        with self.reading_vectors() as vs:
            return vs._collection.count()

    def delete_vectors(self, chunk_ids: list[str], page: int = 5000) -> None:
        with self.reading_vectors() as vs:
            for i in range(0, len(chunk_ids), page):
                vs._collection.delete(ids=chunk_ids[i:i + page])

    def _nodes(self, rows, vectors) -> list:
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
        nodes = []
        for r, vec in zip(rows, vectors):
            meta = {"file_name": r["file_name"], "doc_type": r["doc_type"],
                    "fiscal_year": r["fiscal_year"] or 0}
            node = TextNode(id_=r["chunk_id"], text=r["index_text"], metadata=meta,
                            embedding=[float(x) for x in vec])
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=r["doc_id"])
            nodes.append(node)
        return nodes

    def reembed(self, embedding, model_id: str, progress: bool = True, batch: int = 64) -> int:
        """Re-embed every stored chunk with another model and rebuild the Chroma collection.

        The docstore is the source, so files need not exist any more. All new vectors are
        computed before the collection is touched: an interrupted run changes nothing."""
        from llama_index.vector_stores.chroma import ChromaVectorStore
        from tqdm import tqdm
        rows = self.vector_rows()
        vectors = []
        for i in tqdm(range(0, len(rows), batch), desc="re-embed", unit="batch", disable=not progress):
            vectors.extend(embedding.embed_array([r["index_text"] for r in rows[i:i + batch]]))
        with self._lock:
            self.vectors  # noqa: B018 - opens the client
            try:
                self._client.delete_collection(self.settings.collection)
            except Exception:   # nothing to delete yet
                pass
            self._vector_store = ChromaVectorStore(chroma_collection=self._collection(self._client))
            self.add_vectors(rows, vectors)
            with self.db:
                self._set_meta("embed_model", model_id)
                self._set_meta("embed_dim", embedding.dim)
                self._bump()
        self.settings = replace(self.settings, embed_model=model_id)
        self._embedding = embedding
        return len(rows)

    # --- documents ---------------------------------------------------------------------------

    def document(self, path: str) -> sqlite3.Row | None:
        """The stored document of a key or an absolute path."""
        return self.db.execute("SELECT * FROM documents WHERE path = ?", (self.key_of(path),)).fetchone()

    def documents(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM documents ORDER BY file_name").fetchall()

    def find_documents(self, name_or_path: str) -> list[sqlite3.Row]:
        p = self.key_of(Path(name_or_path).resolve())
        return self.db.execute("SELECT * FROM documents WHERE path = ? OR file_name = ?",
                               (p, Path(name_or_path).name)).fetchall()

    def replace_document(self, doc: Document, vectors: np.ndarray | None = None) -> int:
        """Store doc with its chunks, replacing any earlier version at the same path (whose id it keeps)."""
        if vectors is None:
            vectors = self.embedding.embed_array([c.index_text for c in doc.chunks])
        earlier = self.document(doc.path)
        did = earlier["doc_id"] if earlier is not None else doc.doc_id
        rows = [{"chunk_id": f"{did}:{c.ordinal}", "doc_id": did, "index_text": c.index_text,
                 "file_name": doc.file_name, "doc_type": doc.doc_type,
                 "fiscal_year": doc.fiscal_year} for c in doc.chunks]
        with self._lock:
            self._record_model()
            self.vectors.delete(did)
            self.add_vectors(rows, vectors)
            with self.db:
                self.db.execute("DELETE FROM documents WHERE doc_id = ?", (did,))
                self.db.execute(
                    "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
                    (did, self.key_of(doc.path), doc.file_name, doc.sha256, doc.title, doc.fiscal_year,
                     doc.doc_type, len(doc.chunks), datetime.now(timezone.utc).isoformat()))
                self.db.executemany(
                    f"INSERT INTO chunks ({CHUNK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(f"{did}:{c.ordinal}", did, c.ordinal, c.text, c.index_text, c.page, c.sheet,
                      c.rows[0] if c.rows else None, c.rows[1] if c.rows else None, c.heading,
                      " ".join(c.tokens or thai.tokenize(c.index_text)) or "",
                      c.table, c.origin, c.ocr_confidence)
                     for c in doc.chunks])
                self._bump()
        return len(doc.chunks)

    def remove_document(self, path: str) -> bool:
        with self._lock:
            row = self.document(path)
            if row is None:
                return False
            self.vectors.delete(row["doc_id"])
            with self.db:
                self.db.execute("DELETE FROM documents WHERE doc_id = ?", (row["doc_id"],))
                self._bump()
            return True

    def chunk_ids(self, path: str) -> list[str]:
        """A document's chunks in reading order."""
        return [r[0] for r in self.db.execute(
            "SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE d.path = ? "
            "ORDER BY c.ordinal", (self.key_of(path),))]

    def chunk_rows(self, chunk_ids: list[str]) -> dict[str, sqlite3.Row]:
        """Chunks joined with their document, by id."""
        out = {}
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i:i + 500]
            q = ("SELECT c.*, d.path, d.file_name, d.title, d.fiscal_year, d.doc_type "
                 "FROM chunks c JOIN documents d USING (doc_id) "
                 f"WHERE c.chunk_id IN ({','.join('?' * len(part))})")
            out.update({r["chunk_id"]: r for r in self.db.execute(q, part)})
        return out

    def chunk_vectors(self, chunk_ids: list[str]) -> dict[str, list[float]]:
        """The stored embedding of each chunk, by id (those Chroma holds)."""
        if not chunk_ids:
            return {}
        with self.reading_vectors() as vs:
            got = vs._collection.get(ids=list(dict.fromkeys(chunk_ids)), include=["embeddings"])
        return dict(zip(got["ids"], got["embeddings"]))

    def stats(self) -> dict:
        docs, chunks = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_chunks), 0) FROM documents").fetchone()
        return {"documents": docs, "chunks": chunks, "embed_model": self.meta("embed_model"),
                "embed_dim": self.meta("embed_dim"), "data_dir": str(self.dir),
                "chroma": self.settings.chroma_url or "embedded"}

    # --- BM25 --------------------------------------------------------------------------------

    # the lexical indexes searches and criterion evidence use, as (level, terms)
    LEXICAL = (("chunk", "words"), ("chunk", "chars"), ("doc", "words"))

    def build_lexical(self) -> None:
        """Bring every lexical index up to date now (after a change, in the ingest job behind its
        progress) rather than on the first search: the trigram one takes seconds on a large store."""
        for level, terms in self.LEXICAL:
            self.bm25(level, terms)

    def bm25(self, level: str = "chunk", terms: str = "words") -> "LexicalIndex":
        """The BM25 index over chunks, or over whole documents (level="doc"), rebuilt when
        the docstore has moved; its terms are words, or character trigrams of the words
        (terms="chars", see thai.char_grams). Words are stored with the chunks at ingest,
        so a rebuild is only bm25s's indexing."""
        if terms not in ("words", "chars"):
            raise ValueError(f"unknown BM25 terms '{terms}' (use words or chars)")
        gen = self.generation()
        cached = self._bm25.get((level, terms)) if self._bm25 else None
        if cached is not None and cached.generation == gen:
            return cached
        with self._lock:
            rows = self.db.execute(
                "SELECT c.chunk_id, c.tokens, d.file_name, d.doc_type, d.fiscal_year "
                "FROM chunks c JOIN documents d USING (doc_id) ORDER BY d.file_name, c.ordinal").fetchall()
            if level == "doc":
                # a document is the concatenation of its chunks: long treatment of a topic
                # counts, which is what "this document is about the criterion" means
                grouped: dict[str, list] = {}
                for r in rows:
                    grouped.setdefault(r["file_name"], []).append(r)
                units = [(name, " ".join(r["tokens"] for r in rs), rs[0]) for name, rs in grouped.items()]
            else:
                units = [(r["chunk_id"], r["tokens"], r) for r in rows]
            index = bm25s.BM25()
            if units:
                words = [u[1].split(" ") for u in units]
                index.index([thai.char_grams(w) for w in words] if terms == "chars" else words,
                            show_progress=False)
            cols = {"file_name": np.array([u[2]["file_name"] for u in units], dtype=object),
                    "doc_type": np.array([u[2]["doc_type"] for u in units], dtype=object),
                    "fiscal_year": np.array([u[2]["fiscal_year"] or 0 for u in units])}
            built = LexicalIndex(gen, index, [u[0] for u in units], cols)
            self._bm25 = {**(self._bm25 or {}), (level, terms): built}
            return built

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
