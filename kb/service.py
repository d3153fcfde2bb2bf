"""The hub: one object that owns the store, the retriever and the criteria catalogue.

The CLI and the web API are thin layers over it, so whatever one can do the other can too.
"""
from __future__ import annotations

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
               echo: Callable[[str], None] | None = None):
        from ingest.pipeline import ingest
        from kb.previous import set_aside_forms
        # A filled-in แบบฟอร์มที่ 3 is last year's answers, not evidence (see kb/previous.py).
        paths, skipped = set_aside_forms(paths, self, echo=echo)
        summary = ingest(paths, self.store, progress=progress, echo=echo)
        summary.skipped.extend(skipped)
        self.store.build_lexical()
        return summary

    def remove(self, name_or_path: str) -> list[str]:
        """Delete a document (by path or file name) everywhere; the paths removed."""
        removed = []
        for row in self.store.find_documents(name_or_path):
            if self.store.remove_document(row["path"]):
                removed.append(row["path"])
        if removed:
            self.store.build_lexical()
        return removed

    def search(self, query: str, k: int = 10, filters: Filters = Filters(),
               mode: str = "hybrid") -> list[Hit]:
        return self.retriever.search(query, k=k, filters=filters, mode=mode)

    def evidence(self, code: str, k: int = 10, filters: Filters = Filters()):
        from kb.evidence import evidence_for
        return evidence_for(self.catalogue.get(code), self.retriever, k=k, filters=filters)

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
