"""The hub: one object that owns the store, the retriever and the criteria catalogue.

The CLI and the web API are thin layers over it, so whatever one can do the other can too.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from kb.config import Settings
from kb.criteria import Catalogue, load_catalogue
from kb.retrieve import Filters, Hit, Retriever
from kb.store import Store


class KnowledgeBase:
    def __init__(self, settings: Settings | None = None, catalogue: Catalogue | None = None,
                 check_model: bool = True):
        self.settings = settings or Settings.from_env()
        self.store = Store(self.settings, check_model=check_model)
        self.retriever = Retriever(self.store)
        self.catalogue = catalogue or load_catalogue()

    def ingest(self, paths: Iterable[str | Path], progress: bool = True,
               echo: Callable[[str], None] | None = None, refresh: bool = True,
               on_page: Callable[[Path, int, int, bool], None] | None = None):
        """`refresh=False` leaves `refresh()` to the caller (a job ingesting file by file
        refreshes once, after its last file). `on_page(file, page, pages, by_ocr)` is told of
        each page of a PDF or image as it is read."""
        from kb.ingestion import ingest
        from kb.previous import set_aside_forms
        # A filled-in แบบฟอร์มที่ 3 is last year's answers, not evidence (see kb/previous.py).
        roots = list(paths)        # library names are taken under the folders named
        paths, skipped = set_aside_forms(roots, self, echo=echo)
        summary = ingest(paths, self.store, progress=progress, echo=echo, roots=roots, on_page=on_page)
        summary.skipped.extend(skipped)
        if refresh:
            self.refresh()
        return summary

    def refresh(self) -> None:
        """Bring the lexical indexes and the document scores up to date after a change."""
        self.store.build_lexical()
        self.generality()          # computed once here, not on the first evidence request

    def remove(self, name_or_path: str) -> list[str]:
        """Delete a document (by path or file name) everywhere; the paths removed."""
        removed = []
        library = self.store.library
        for row in self.store.find_documents(name_or_path):
            if self.store.remove_document(row["path"]):
                removed.append(row["path"])
                if library.holds(self.store.file_of(row["path"])):    # its file, and kept versions
                    library.remove(library.name_of(self.store.file_of(row["path"])))
        if removed:
            self.store.build_lexical()
        return removed

    def search(self, query: str, k: int = 10, filters: Filters = Filters(),
               mode: str = "hybrid") -> list[Hit]:
        return self.retriever.search(query, k=k, filters=filters, mode=mode)

    def evidence(self, code: str, k: int = 10, filters: Filters = Filters(), year: int | None = None):
        """Ranked evidence documents of a criterion for the fiscal year assessed (default:
        `assessment_year`), asked also with the agency's previous answer when its form is loaded."""
        from kb.evidence import evidence_for
        return evidence_for(self.catalogue.get(code), self.retriever, k=k, filters=filters,
                            previous=self.previous_answer(code), year=year or self.assessment_year(),
                            generality=self.generality(), fiscal_years=self._fiscal_years())

    # --- what evidence ranking needs to know about the whole library ----------------------------

    @property
    def previous_answers(self):
        from kb.previous import PreviousAnswers
        if getattr(self, "_previous", None) is None or self._previous.db is not self.store.db:
            self._previous = PreviousAnswers(self.store.db)
        return self._previous

    def previous_answer(self, code: str) -> str | None:
        answer = self.previous_answers.latest(code)
        return answer.answer if answer and answer.answer else None

    def assessment_year(self) -> int | None:
        """The fiscal year (พ.ศ.) being assessed when no round says it: the year after the
        newest filled-in form loaded, else the year most documents are of (not the newest
        year found anywhere: one news item dated next year must not make every other document
        'another year'); ties go to the newer year."""
        forms = [y for _, y, _ in self.previous_answers.forms() if y]
        if forms:
            return max(forms) + 1
        rows = self.store.db.execute(
            "SELECT fiscal_year, COUNT(*) FROM documents WHERE fiscal_year IS NOT NULL "
            "GROUP BY fiscal_year").fetchall()
        return max(rows, key=lambda r: (r[1], r[0]))[0] if rows else None

    def _fiscal_years(self) -> dict[str, int | None]:
        return {r["file_name"]: r["fiscal_year"] for r in self.store.documents()}

    def generality(self) -> dict[str, float] | None:
        """Each document's mean evidence score over all criteria (None when the params do not
        use it); computed once per state of the library and of the params."""
        from kb import params
        from kb.evidence import generality_of
        p = params.active().evidence
        if not p.generic_penalty:
            return None
        key = repr((self.store.generation(), self.previous_answers.forms(), p))
        if getattr(self, "_generality", (None,))[0] != key:
            # kept in the store: another process (a web worker) reads it instead of running all
            # 94 criteria on its first evidence request
            saved = self.store.meta("generality")
            stored = json.loads(saved) if saved else {}
            if stored.get("key") != key:
                stored = {"key": key, "scores": generality_of(self.catalogue.criteria(), self.retriever,
                                                                self.previous_answer)}
                with self.store.db:
                    self.store._set_meta("generality", json.dumps(stored, ensure_ascii=False))
            self._generality = (key, stored["scores"])
        return self._generality[1]

    def reindex(self, model: str | None = None, progress: bool = True) -> dict:
        """Re-embed everything stored, with the configured model or the one given."""
        from kb.embeddings import get_embedding
        model = model or self.settings.embed_model
        store = Store(self.store.settings, check_model=False)
        n = store.reembed(get_embedding(model), model, progress=progress)
        self.store.close()
        self.settings = replace(self.settings, embed_model=model)
        self.store = store
        self.retriever = Retriever(store)
        return {"chunks": n, "embed_model": model}
