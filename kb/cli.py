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
                  "KB_EMBED_MODEL, KB_CHROMA_URL, KB_DATABASE_URL, KB_QUEUE_URL.")
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
    """Ingest files and folders (.pdf .docx .xlsx .csv .html .txt .md, scans .png .jpg .tif)."""
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
@click.option("--mode", type=click.Choice(["hybrid", "bm25", "chars", "dense"]), default="hybrid", show_default=True)
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


@main.command("show")
@click.argument("citation")
@click.option("--context", default=1, show_default=True, help="Passages shown before and after.")
@click.option("--json", "as_json", is_flag=True)
def show(citation, context, as_json):
    """Print a cited passage with its neighbours.

    CITATION is a chunk id as the web app's preview and the JSON show it (e.g. 3f2a…:4), or the
    source as drafts and the export print it: "รายงาน.pdf · หน้า 7", "คิว.xlsx · แถว 4", or
    FILE#p7 (page), FILE#r4 (row), FILE#c3 (the file's passage number 3, from 0)."""
    from kb.preview import PreviewNotFound, preview, resolve
    kb = _kb()
    try:
        ids = resolve(kb.store, citation)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    if not ids:
        raise click.ClickException(f"ไม่พบข้อความที่อ้างอิง “{citation}” ในคลังเอกสาร (ดูชื่อไฟล์ได้ที่ 'kb documents')")
    try:
        previews = [preview(kb.store, cid, context=context) for cid in ids]
    except PreviewNotFound as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        _print_json([p.to_dict() for p in previews])
        return
    for i, p in enumerate(previews):
        if i:
            click.echo()
        year = f" · พ.ศ. {p.fiscal_year}" if p.fiscal_year else ""
        click.echo(click.style(f"{p.where}{year}", bold=True) + f"  [รหัสอ้างอิง {p.chunk_id}]")
        if p.note:
            click.echo(click.style(f"หมายเหตุ: {p.note}", fg="yellow"))
        if p.kind == "sheet" and p.table:
            click.echo("แถว\t" + "\t".join(p.header))
            for r in p.table:
                mark = "»" if r.cited else " "
                click.echo(f"{mark}{r.number or ''}\t" + "\t".join(r.cells))
            continue
        for b in p.before:
            click.echo(click.style(f"ข้อความก่อนหน้า ({b.where}):", fg="cyan"))
            click.echo(textwrap.indent(b.text, "    "))
        click.echo(click.style("ข้อความที่อ้างอิง:", fg="green", bold=True))
        click.echo(textwrap.indent(p.text, "  » "))
        for a in p.after:
            click.echo(click.style(f"ข้อความถัดไป ({a.where}):", fg="cyan"))
            click.echo(textwrap.indent(a.text, "    "))


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
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write one JSON line per criterion to this file.")
@click.option("--previous", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A filled-in form of an earlier year, loaded first as the agency's previous answers.")
@click.option("--quiet", is_flag=True)
def eval_criteria_cmd(docs_dir, qrels, out, previous, quiet):
    """Document-level nDCG@10, Recall@10, MRR@10, P@5 of criterion evidence."""
    from kb.evaluate import eval_criteria
    try:
        result = eval_criteria(docs_dir, qrels, progress=not quiet, out=out, previous=previous)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    click.echo(json.dumps(result, ensure_ascii=False))


# --- review service: web app, users, export -----------------------------------------------------

def _review_db():
    from kb.review import ReviewDB, database_url
    return ReviewDB(database_url(Settings.from_env().data_dir))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--agency", help="Agency of the first assessment, when the database has none (or KB_AGENCY).")
@click.option("--year", type=int, help="Fiscal year (พ.ศ.) of that first assessment (default: the current one).")
def serve(host, port, agency, year):
    """Run the web app and JSON API (OpenAPI docs at /docs).

    Review state goes to KB_DATABASE_URL (e.g. postgresql://user:pw@host/db), by default a
    SQLite file in the data directory. Create users first with 'kb user add'."""
    import uvicorn
    from api.app import create_app
    from kb.store import StoreError
    if not _review_db().users():
        click.echo("note: no users yet — create one with: kb user add NAME --role admin", err=True)
    click.echo("note: uploads are ingested by the worker: run 'kb worker' beside this server", err=True)
    try:
        app = create_app(Settings.from_env(), agency=agency, fiscal_year=year)
        uvicorn.run(app, host=host, port=port, log_level="info")
    except StoreError as err:
        raise click.ClickException(str(err)) from err


@main.command()
@click.option("--workers", default=1, show_default=True, type=int,
              help="Jobs run at once (they share one store and the model's cores: 1 is usually best).")
def worker(workers):
    """Run the background worker: ingestion of uploaded documents and evidence suggestion.

    Start it beside the web app ('kb serve' or uvicorn), with the same KB_DATA_DIR and
    KB_DATABASE_URL. Jobs wait in KB_QUEUE_URL (redis://…), by default a SQLite file in the data
    directory. Stop it with Ctrl-C (the running job finishes first) or SIGTERM; after a crash it
    resumes the interrupted job when started again."""
    from kb.queue import run_worker
    from kb.store import StoreError
    try:
        run_worker(Settings.from_env(), workers=workers)
    except (StoreError, ValueError) as err:
        raise click.ClickException(str(err)) from err


@main.group()
def user():
    """Users of the web app and API (roles: viewer, editor, reviewer, admin)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "editor", "reviewer", "admin"]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when not given.")
@click.option("--token", "with_token", is_flag=True, help="Also print an API token for scripts.")
@click.option("--update", is_flag=True, help="Set a new password (and role) for an existing user.")
def user_add(name, role, password, with_token, update):
    """Create a user (or, with --update, reset their password and role)."""
    from kb import auth
    from kb.review import ReviewError
    db = _review_db()
    try:
        u = auth.set_password(db, name, password, role) if update else auth.add_user(db, name, password, role)
    except ReviewError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{'updated' if update else 'added'} user {u['name']} ({u['role']})")
    if update and u.get("revoked"):
        click.echo(f"revoked {u['revoked']} session(s) and token(s) of {u['name']}", err=True)
    if with_token:
        token = auth.issue_token(db, u["id"], "api", label="kb user add")
        click.echo(token["token"])
        click.echo(f"token {token['id']} expires {token['expires_at']}", err=True)


@user.command("list")
def user_list():
    """List users and their roles."""
    for u in _review_db().users():
        click.echo(f"{u['name']}\t{u['role']}\t{'active' if u['active'] else 'disabled'}")


def _user_action(fn, *args, **kw):
    """Run a kb.auth action; its Thai message (naming the user) becomes the CLI's error."""
    from kb.review import ReviewError
    try:
        return fn(_review_db(), *args, **kw)
    except ReviewError as err:
        raise click.ClickException(str(err)) from err


@user.command("disable")
@click.argument("name")
def user_disable(name):
    """Disable a user: no more logins; their sessions and tokens stop working at once."""
    from kb import auth
    u = _user_action(auth.set_active, name, False)
    click.echo(f"disabled user {u['name']} (revoked {u['revoked']} session(s) and token(s))")


@user.command("enable")
@click.argument("name")
def user_enable(name):
    """Enable a disabled user again (their old tokens stay revoked)."""
    from kb import auth
    u = _user_action(auth.set_active, name, True)
    click.echo(f"enabled user {u['name']}")


@user.command("reset-password")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when not given.")
def user_reset_password(name, password):
    """Set a new password; every session and API token of the user is revoked."""
    from kb import auth
    u = _user_action(auth.set_password, name, password)
    click.echo(f"new password for {u['name']}; revoked {u['revoked']} session(s) and token(s)")


@user.command("unlock")
@click.argument("name")
def user_unlock(name):
    """Lift a login lock on NAME (set after too many wrong passwords)."""
    from kb import auth
    done = _user_action(auth.unlock, name)
    click.echo(f"unlocked {name}" if done else f"{name} was not locked (its failed logins are cleared)")


@user.command("token")
@click.argument("name")
@click.option("--days", type=float, help="Days until it expires (default KB_TOKEN_DAYS, 90).")
@click.option("--label", default="kb user token", show_default=True, help="What it is for (audit log).")
def user_token(name, days, label):
    """Issue an API token for NAME (printed once: only its hash is kept)."""
    from kb import auth
    from kb.review import ReviewError
    db = _review_db()
    u = next((u for u in db.users() if u["name"] == name.strip()), None)
    if u is None:
        raise click.ClickException(f"ไม่พบผู้ใช้ชื่อ {name}")
    if not u["active"]:
        raise click.ClickException(f"บัญชีผู้ใช้ {u['name']} ถูกระงับการใช้งาน ออกรหัสเข้าใช้งานให้ไม่ได้")
    try:
        token = auth.issue_token(db, u["id"], "api", label=label, days=days)
    except ReviewError as err:
        raise click.ClickException(str(err)) from err
    click.echo(token["token"])
    click.echo(f"token {token['id']} for {u['name']} expires {token['expires_at']}", err=True)


@user.command("tokens")
@click.argument("name")
@click.option("--all", "everything", is_flag=True, help="Also revoked and expired ones.")
def user_tokens(name, everything):
    """List NAME's sessions and API tokens: id, kind, state, created, expires, label."""
    from kb import auth
    for t in _user_action(auth.tokens, name=name, everything=everything):
        click.echo(f"{t['id']}\t{t['kind']}\t{t['state']}\t{t['created_at']}\t{t['expires_at']}\t{t['label']}")


@user.command("revoke")
@click.argument("name")
@click.argument("token_ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Revoke every session and token of NAME.")
def user_revoke(name, token_ids, everything):
    """Revoke NAME's tokens by id (see 'kb user tokens NAME'), or --all of them."""
    from kb import auth
    if bool(token_ids) == everything:
        raise click.UsageError("give token ids (see 'kb user tokens NAME') or --all")
    if everything:
        click.echo(f"revoked {_user_action(auth.revoke_all, name)} session(s) and token(s) of {name}")
        return
    admin = {"id": None, "role": "admin"}            # whoever runs the CLI holds the database
    for token_id in token_ids:
        _user_action(auth.revoke_token_id, token_id, admin, owner=name)
        click.echo(f"revoked token {token_id} of {name}")


@main.command("doctor")
@click.option("--repair", is_flag=True, help="Delete orphan vectors and embed missing ones again.")
def doctor_cmd(repair):
    """Check that the docstore, the vector store and the lexical indexes hold the same chunks.

    Exit status 1 when they disagree (and --repair was not given or did not fix it)."""
    from kb import doctor
    kb = _kb()
    try:
        report = doctor.check(kb.store)
        for line in report.lines():
            click.echo(line)
        if repair and not report.healthy:
            changed = doctor.repair(kb.store, report)
            click.echo(f"ซ่อมแล้ว: ปรับเวกเตอร์ {changed:,} รายการ")
            report = doctor.check(kb.store)
            click.echo(report.lines()[-1])
    finally:
        kb.store.close()
    sys.exit(0 if report.healthy else 1)


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_cmd(file):
    """Save documents, vectors, review state and files in one archive FILE (.tar.gz).

    Safe while the web app and workers run: every part is read as of one moment."""
    from kb.backup import BackupError, backup
    from kb.review import database_url
    kb = _kb()
    try:
        report = backup(kb, database_url(kb.settings.data_dir), file)
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    finally:
        kb.store.close()
    click.echo(f"สำรองข้อมูลไว้ที่ {file}: {report.line()}")


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to restore into (default KB_DATA_DIR); it must not hold a store yet.")
def restore_cmd(file, data_dir):
    """Rebuild a backup FILE into an empty data folder (and review database, KB_DATABASE_URL)."""
    from dataclasses import replace

    from kb.backup import BackupError, restore
    from kb.review import database_url
    settings = Settings.from_env()
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir)
    try:
        report = restore(file, settings, database_url(settings.data_dir))
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"กู้คืนข้อมูลลงใน {settings.data_dir}: {report.line()}")


@main.command("export")
@click.option("--format", "fmt", type=click.Choice(["docx", "md", "json"]), default="docx", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout for md/json).")
@click.option("--assessment", "assessment_id", type=int, help="Assessment id (default: the newest).")
@click.option("--include-drafts", is_flag=True, help="Also print answers that are not approved yet, marked as drafts.")
def export_cmd(fmt, out, assessment_id, include_drafts):
    """Write the completed แบบฟอร์มที่ 3 (☑ approved answers, evidence appendix)."""
    from kb import export
    from kb.criteria import load_catalogue
    db = _review_db()
    assessments = db.assessments()
    if not assessments:
        raise click.ClickException("no assessment yet: start 'kb serve' once, or create one through the API")
    aid = assessment_id or assessments[0]["id"]
    if aid not in {a["id"] for a in assessments}:
        raise click.ClickException(f"no assessment with id {aid} (have: "
                                   f"{', '.join(str(a['id']) for a in assessments)})")
    data = export.form_data(load_catalogue(), db, aid, include_drafts=include_drafts)
    body = export.render(data, fmt)
    if out:
        out.write_bytes(body)
        click.echo(f"wrote {out} ({data['summary']['approved']} of {data['summary']['criteria']} "
                   f"criteria approved, {len(data['appendix'])} documents in the appendix)", err=True)
    elif fmt == "docx":
        raise click.ClickException("DOCX needs --out FILE")
    else:
        click.echo(body.decode("utf-8"), nl=False)



# --- drafting -----------------------------------------------------------------------------------

@main.command("draft")
@click.argument("code", required=False)
@click.option("--all", "all_codes", is_flag=True, help="Draft every criterion of the form.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write Markdown (or JSON with --json) to this file instead of printing.")
@click.option("--drafter", type=click.Choice(["extractive", "llm"]), default="extractive", show_default=True,
              help="llm: an OpenAI-compatible server set by KB_LLM_BASE_URL, KB_LLM_MODEL, KB_LLM_API_KEY.")
@click.option("--year", type=int, help="Fiscal year assessed (พ.ศ.); default: the newest among stored documents.")
@click.option("--json", "as_json", is_flag=True)
def draft_cmd(code, all_codes, out, drafter, year, as_json):
    """Draft the narrative answer of a criterion (or --all), with verdicts and sources."""
    from tqdm import tqdm

    from kb.draft import draft_criterion, format_draft
    from kb.llm import LLMError
    if bool(code) == all_codes:
        raise click.UsageError("give one criterion code (e.g. kb draft 3.4.3) or --all")
    kb = _kb()
    try:
        codes = [c.code for c in kb.catalogue.criteria()] if all_codes else [kb.catalogue.get(code).code]
    except KeyError as err:
        raise click.ClickException(err.args[0]) from err
    drafts = []
    for c in tqdm(codes, desc="draft", unit="criterion", disable=not all_codes):
        try:
            drafts.append(draft_criterion(kb, c, drafter=drafter, year=year))
        except LLMError as err:
            raise click.ClickException(str(err)) from err
    if as_json:
        body = json.dumps([d.to_dict() for d in drafts] if all_codes else drafts[0].to_dict(),
                          ensure_ascii=False, indent=2)
    else:
        body = "\n\n".join(format_draft(d, kb.catalogue.get(d.code), markdown=bool(out)) for d in drafts)
    if out:
        out.write_text(body + "\n", encoding="utf-8")
        flagged = sum(1 for d in drafts for s in d.sentences if s.verdict != "supported")
        click.echo(f"wrote {out}: {len(drafts)} criteria, {sum(not d.abstained for d in drafts)} drafted, "
                   f"{sum(d.abstained for d in drafts)} abstained, {flagged} sentences to check", err=True)
    else:
        click.echo(body)


@eval.command("drafts")
@click.option("--docs", "docs_dir", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--expect", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Lines 'code<TAB>term1|term2|…'; an empty list means the draft should abstain.")
@click.option("--drafter", type=click.Choice(["extractive", "llm"]), default="extractive", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write one JSON line per criterion to this file.")
@click.option("--previous", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A filled-in form of an earlier year, loaded first as the agency's previous answers.")
@click.option("--quiet", is_flag=True)
def eval_drafts_cmd(docs_dir, expect, drafter, out, previous, quiet):
    """Key-term recall, citation coverage, unsupported facts, abstention accuracy of drafts."""
    from kb.evaluate import eval_drafts
    from kb.llm import LLMError
    try:
        result = eval_drafts(docs_dir, expect, progress=not quiet, drafter=drafter, out=out,
                             previous=previous)
    except (ValueError, LLMError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
