"""The `kb` command: a thin layer over kb.service.KnowledgeBase."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import click

from kb.config import Settings


def _kb(check_model: bool = True):
    from kb.service import KnowledgeBase
    from kb.store import StoreError
    try:
        return KnowledgeBase(Settings.from_env(), check_model=check_model)
    except StoreError as err:
        raise click.ClickException(str(err)) from err


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _filters(year, doc_type, file_name):
    from kb.retrieve import Filters
    return Filters(fiscal_year=year, doc_type=doc_type.lstrip(".").lower() if doc_type else None,
                   file_name=file_name)


def _show_hit(rank: int, hit, width: int = 100) -> None:
    year = f" · พ.ศ. {hit.fiscal_year}" if hit.fiscal_year else ""
    click.echo(click.style(f"{rank:>2}. [{hit.score:.4f}] {hit.where()}{year}", bold=True))
    click.echo(f"    {hit.title}")
    if hit.best_sentence:
        click.echo(click.style(f"    » {hit.best_sentence[:300]}", fg="green"))
    body = " ".join(hit.text.split())
    click.echo(textwrap.indent(textwrap.fill(body[:400] + ("…" if len(body) > 400 else ""), width), "    "))


@click.group(help="Evidence knowledge base for the Public Sector 4.0 self-assessment (แบบฟอร์มที่ 3).\n\n"
                  "Settings come from the environment: KB_DATA_DIR (default ./.kb-data), "
                  "KB_EMBED_MODEL, KB_CHROMA_URL.")
def main():
    pass


@main.command()
@click.argument("code", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def criteria(code, as_json):
    """Print the criteria tree, or one criterion in full."""
    from kb.criteria import format_criterion, format_tree, load_catalogue
    cat = load_catalogue()
    if code:
        try:
            c = cat.get(code)
        except KeyError as err:
            raise click.ClickException(err.args[0]) from err
        if as_json:
            _print_json(next(cr for item in cat.to_dict()["categories"] for it in item["items"]
                             for cr in it["criteria"] if cr["code"] == c.code))
        else:
            click.echo(format_criterion(c))
    elif as_json:
        _print_json(cat.to_dict())
    else:
        click.echo(format_tree(cat))


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def ingest(paths, quiet):
    """Ingest files and folders (.pdf .docx .xlsx .csv .html .txt .md)."""
    kb = _kb()
    summary = kb.ingest(paths, progress=not quiet, echo=lambda m: click.echo(m, err=True))
    for path in summary.skipped:
        click.echo(f"skipped (unsupported type): {path}", err=True)
    click.echo(summary.line())
    if summary.errors and not summary.ingested and not summary.unchanged:
        sys.exit(1)


@main.command()
@click.argument("file")
def remove(file):
    """Delete a document (path or file name) from every index."""
    removed = _kb().remove(file)
    if not removed:
        raise click.ClickException(f"no stored document matches '{file}' (see 'kb documents')")
    for path in removed:
        click.echo(f"removed {path}")


@main.command()
def documents():
    """List stored documents."""
    kb = _kb()
    for row in kb.store.documents():
        year = row["fiscal_year"] or "-"
        click.echo(f"{row['n_chunks']:>5} chunks  {year}  {row['file_name']}  ({row['title'][:60]})")
    s = kb.store.stats()
    click.echo(f"{s['documents']} documents, {s['chunks']} chunks, model {s['embed_model']}")


@main.command()
@click.option("--model", help="Embedding model to move to (default: KB_EMBED_MODEL).")
def reindex(model):
    """Re-embed every stored chunk (e.g. after changing the embedding model)."""
    click.echo(json.dumps(_kb(check_model=False).reindex(model), ensure_ascii=False))


@main.command()
@click.argument("query")
@click.option("-k", default=10, show_default=True, help="Number of passages.")
@click.option("--year", type=int, help="Fiscal year (พ.ศ.), e.g. 2564.")
@click.option("--type", "doc_type", help="Document type: pdf, docx, xlsx, csv, html, txt, md.")
@click.option("--file", "file_name", help="Only this file name.")
@click.option("--mode", type=click.Choice(["hybrid", "bm25", "dense"]), default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def search(query, k, year, doc_type, file_name, mode, as_json):
    """Ranked passages for a free-text query, with provenance."""
    hits = _kb().search(query, k=k, filters=_filters(year, doc_type, file_name), mode=mode)
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("ไม่พบข้อความที่ตรงกับคำค้น (no passage matches)")
    for i, h in enumerate(hits, 1):
        _show_hit(i, h)


@main.command()
@click.argument("code")
@click.option("-k", default=5, show_default=True, help="Number of documents.")
@click.option("--year", type=int, help="Fiscal year (พ.ศ.).")
@click.option("--json", "as_json", is_flag=True)
def evidence(code, k, year, as_json):
    """Documents and passages that support a criterion, ranked."""
    kb = _kb()
    try:
        docs = kb.evidence(code, k=k, filters=_filters(year, None, None))
    except KeyError as err:
        raise click.ClickException(err.args[0]) from err
    if as_json:
        _print_json({"code": kb.catalogue.get(code).code, "documents": [d.to_dict() for d in docs]})
        return
    c = kb.catalogue.get(code)
    click.echo(click.style(f"{c.code} {c.wording}", bold=True))
    click.echo()
    for i, d in enumerate(docs, 1):
        year_s = f" · พ.ศ. {d.fiscal_year}" if d.fiscal_year else ""
        click.echo(click.style(f"{i}. {d.file_name} [{d.score:.4f}]{year_s} — {d.title}", fg="cyan", bold=True))
        for p in d.passages:
            click.echo(f"   · {p.where()}")
            click.echo(click.style(f"     » {p.best_sentence[:300]}", fg="green"))
        click.echo()


@main.group()
def eval():
    """Quality measurements (each prints one JSON object)."""


@eval.command("retrieval")
@click.option("--beir", "beir_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder with corpus.jsonl, queries.jsonl, qrels/test.tsv.")
@click.option("--quiet", is_flag=True)
def eval_retrieval(beir_dir, quiet):
    """R@1, MRR@10, Recall@10, nDCG@10 for hybrid, BM25 and dense side by side."""
    from kb.evaluate import eval_beir
    try:
        result = eval_beir(beir_dir, progress=not quiet)
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from err
    click.echo(json.dumps(result, ensure_ascii=False))


@eval.command("criteria")
@click.option("--docs", "docs_dir", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--qrels", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True)
def eval_criteria_cmd(docs_dir, qrels, quiet):
    """Document-level nDCG@10, Recall@10, MRR@10, P@5 of criterion evidence."""
    from kb.evaluate import eval_criteria
    try:
        result = eval_criteria(docs_dir, qrels, progress=not quiet)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    click.echo(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
