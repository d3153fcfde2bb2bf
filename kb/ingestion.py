"""Ingestion into the store: paths → files → loaded sections (ingest/) → chunks → store.

Every file ingested is kept in the library (kb/library.py) under its library name, which is also
the document's key: the command line and the web app name the same document alike.

One bad file never stops a batch: its error is recorded as one line naming the file and the
problem, and whatever the store already held for it stays untouched. That includes a file over
the time limit (ingest.limits.Deadline): loading, chunking and embedding all happen before the
store is written, and the deadline is checked between them and once more before the write.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ingest.chunker import chunk_file
from ingest.limits import Deadline, LimitExceeded, Limits, check_chunks, check_text
from ingest.loaders import SUPPORTED, LoadError, PageProgress, load
from textmodel import thai
from kb.library import name_under, safe_name, sha256_of
from kb.store import Store, StoreError
from textmodel.records import Document


@dataclass
class Summary:
    files: int = 0            # files looked at
    ingested: int = 0         # new or changed files stored
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)   # unsupported files met in a folder walk
    chunks: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # files ingested, some part less well (Thai)

    def line(self) -> str:
        return (f"{self.files} files: {self.ingested} ingested, {self.unchanged} unchanged, "
                f"{len(self.skipped)} skipped, {len(self.errors)} errors; {self.chunks} chunks")


def collect(paths: Iterable[str | Path], summary: Summary) -> list[Path]:
    """Files named directly are taken whatever their type (an unsupported one is an error);
    inside folders, only supported types are taken and the rest are listed as skipped."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                if any(part.startswith(".") for part in f.relative_to(p).parts):
                    continue
                if f.suffix.lower() in SUPPORTED:
                    files.append(f)
                else:
                    summary.skipped.append(str(f))
        else:
            files.append(p)
    return files


EMBED_BATCH = 32      # passages embedded between two looks at the clock


def build_document(path: Path, store: Store, digest: str, limits: Limits | None = None,
                   deadline: Deadline | None = None, key: str | None = None,
                   warnings: list[str] | None = None, progress: PageProgress | None = None) -> Document:
    """`warnings`: extended with the loader's (LoadedFile.warnings); `progress`: told of each
    page of a PDF or image as it is read."""
    limits = limits or Limits.from_env()
    deadline = deadline or Deadline(limits)
    loaded = load(path, limits, progress)
    if warnings is not None:
        warnings.extend(loaded.warnings)
    # PDF text needs repair (split sara am, spaced words, legacy glyphs); other formats
    # only need normalising.
    clean = thai.repair_pdf_text if path.suffix.lower() == ".pdf" else thai.normalize
    emb = store.embedding
    try:
        deadline.check()
        check_text([s.text for s in loaded.sections], limits)
        chunks = chunk_file(loaded, emb.token_count, store.settings.chunk_tokens, clean)
        check_chunks(len(chunks), limits)
        deadline.check()
    except LimitExceeded as exc:
        raise LoadError(path, str(exc)) from None
    if not chunks:
        raise LoadError(path, "no text found to index")
    for c in chunks:
        c.tokens = thai.tokenize(c.index_text)
    full_text = "\n".join(s.text for s in loaded.sections[:5])
    return Document(path=key or str(path.resolve()), file_name=path.name, sha256=digest,
                    title=thai.normalize(loaded.title) or path.stem,
                    fiscal_year=thai.fiscal_year(full_text, path.name),
                    doc_type=path.suffix.lower().lstrip("."), chunks=chunks)


def embed(doc: Document, store: Store, deadline: Deadline):
    """The passages' vectors, in batches with the deadline checked between them."""
    import numpy as np
    texts = [c.index_text for c in doc.chunks]
    parts = []
    try:
        for i in range(0, len(texts), EMBED_BATCH):
            deadline.check()
            parts.append(np.asarray(store.embedding.embed_array(texts[i:i + EMBED_BATCH])))
        deadline.check()
    except LimitExceeded as exc:
        raise LoadError(Path(doc.path), str(exc)) from None
    return np.concatenate(parts) if parts else np.zeros((0, store.embedding.dim))


def library_name(path: Path, store: Store, roots: list[Path] = ()) -> str:
    """The name `path` has (or will have) in the library."""
    library = store.library
    if library.holds(path):
        return library.name_of(path)
    return name_under(path, list(roots)) if roots else safe_name(path.name)


def ingest_file(path: Path, store: Store, limits: Limits | None = None,
                name: str | None = None, warnings: list[str] | None = None,
                progress: PageProgress | None = None) -> int | None:
    """Store one file as the library's `name` (by default its own name, or where it already is in
    the library); the number of chunks stored, or None when it is unchanged. `warnings` is
    extended with what the loader read less well (see LoadedFile.warnings); `progress` is told
    of each page of a PDF or image as it is read."""
    if not path.exists():
        raise LoadError(path, "file not found (it may have been moved or deleted)")
    limits = limits or Limits.from_env()
    deadline = Deadline(limits)
    library = store.library
    name = name or library_name(path, store)
    key = store.key_of(library.path(name))
    digest = sha256_of(path)
    known = store.document(key)
    if known is None:
        # a store written before the library recorded a file by its absolute path: the same document
        known = store.rename_document(str(path.resolve()), key)
    if known is not None and known["sha256"] == digest:
        library.put(path, name, digest)     # a no-op unless the library lacks this content
        return None
    doc = build_document(path, store, digest, limits, deadline, key=key, warnings=warnings,
                         progress=progress)
    vectors = embed(doc, store, deadline)
    # The file goes into the library only once it was read whole (a file refused leaves the
    # library as it was) and before the store names it; the version it replaces is kept.
    library.put(path, name, digest)
    # past the last check nothing is interrupted: the store is written as a whole or not at all
    return store.replace_document(doc, vectors)


def describe_error(path: Path, err: Exception) -> str:
    if isinstance(err, LoadError):
        return str(err)
    if isinstance(err, OSError):   # e.g. the file vanished or became unreadable mid-batch
        return f"{path.name}: cannot read file ({err.strerror or err})"
    return f"{path.name}: unexpected error ({type(err).__name__}: {err})"


# Told before each page of a PDF or image of a batch is read: (file, page, pages, read by OCR).
FilePageProgress = Callable[[Path, int, int, bool], None]


def ingest(paths: Iterable[str | Path], store: Store, progress: bool = True,
           echo: Callable[[str], None] | None = None, roots: Iterable[str | Path] = (),
           on_page: FilePageProgress | None = None) -> Summary:
    """Ingest files and folders. Library names are taken under `roots` (by default the folders
    of `paths`): a caller that split a folder into its entries passes the folder named.
    `on_page`: told of each page of a PDF or image as it is read (a job shows it)."""
    from tqdm import tqdm

    summary = Summary()
    paths = list(paths)
    roots = [Path(r) for r in (roots or paths)]
    files = collect(paths, summary)
    summary.files = len(files)
    bar = tqdm(files, desc="ingest", unit="file", disable=not progress)
    for path in bar:
        bar.set_postfix_str(path.name[-40:])
        notes: list[str] = []
        try:
            pages = (lambda page, total, by_ocr, path=path: on_page(path, page, total, by_ocr)) if on_page else None
            stored = ingest_file(path, store, name=library_name(path, store, roots), warnings=notes,
                                 progress=pages)
        except StoreError:
            raise   # the store itself is unusable: stop rather than fail every file alike
        except Exception as err:
            summary.errors.append(describe_error(path, err))
            if echo:
                echo(f"error: {summary.errors[-1]}")
            continue
        summary.warnings.extend(notes)
        if echo:
            for note in notes:
                echo(f"warning: {note}")
        if stored is None:
            summary.unchanged += 1
        else:
            summary.ingested += 1
            summary.chunks += stored
    bar.close()
    return summary
