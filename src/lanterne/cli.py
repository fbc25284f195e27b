"""The ``lanterne`` command: a thin front over the library (parse, call, show progress)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lanterne.case.workspace import Case
from lanterne.commands.common import CaseArg, RichProgress, console, fail, open_case, out
from lanterne.commands.network import network_app
from lanterne.commands.priorities import priorities
from lanterne.commands.review import audit_app, user_app
from lanterne.commands.suspects import suspects_app, watchlist_app
from lanterne.commands.web import serve
from lanterne.errors import LanterneError

app = typer.Typer(
    help="Lanterne: one case from everything seized in an operation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
case_app = typer.Typer(help="Create and inspect cases.", no_args_is_help=True)
evidence_app = typer.Typer(help="Register seized items.", no_args_is_help=True)
export_app = typer.Typer(help="Export what the case knows.", no_args_is_help=True)
hashset_app = typer.Typer(help="Import and list hash sets.", no_args_is_help=True)
chats_app = typer.Typer(
    help="Import chat databases (Signal Desktop, Signal Android backups, generic exports).",
    no_args_is_help=True,
)
app.add_typer(case_app, name="case")
app.add_typer(evidence_app, name="evidence")
app.add_typer(export_app, name="export")
app.add_typer(hashset_app, name="hashset")
app.add_typer(chats_app, name="chats")
app.add_typer(suspects_app, name="suspects")
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(network_app, name="network")
app.command("priorities")(priorities)
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.command("serve")(serve)


@app.callback()
def _main() -> None:
    """Lanterne: one case from everything seized in an operation."""
    from lanterne.evidence.registry import load_plugins

    try:
        load_plugins()
    except LanterneError as exc:
        fail(exc)


@case_app.command("init")
def case_init(
    case: CaseArg,
    name: Annotated[
        str | None, typer.Option(help="The case's name (default: folder name).")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="Database URL, e.g. postgresql+psycopg://user@host/db (default: SQLite).",
        ),
    ] = None,
) -> None:
    """Create a case folder with its configuration and store."""
    try:
        with Case.init(case, name, db) as c:
            console.print(f"created case [bold]{c.name}[/] in {c.root}")
    except LanterneError as exc:
        fail(exc)


DeviceType = Annotated[
    str | None,
    typer.Option(help="The seized device: computer, phone, storage, camera or other."),
]
DeviceMake = Annotated[str | None, typer.Option(help="The device's make (e.g. Canon).")]
DeviceModel = Annotated[str | None, typer.Option(help="The device's model (e.g. EOS 80D).")]
DeviceSerial = Annotated[
    str | None,
    typer.Option(help="The device's serial number, as its pictures' EXIF would carry it."),
]


@evidence_app.command("add")
def evidence_add(
    case: CaseArg,
    path: Annotated[
        Path,
        typer.Argument(
            help="The seized folder, archive, disk image (first segment: .E01, .001 …) "
            "or phone extraction."
        ),
    ],
    label: Annotated[str, typer.Option(help="Unique label of the item, e.g. PC-07.")],
    suspect: Annotated[str | None, typer.Option(help="Whose item it is.")] = None,
    examiner: Annotated[str | None, typer.Option(help="Who registers it (default: you).")] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="folder, file, archive, disk-image or phone (default: detected)."),
    ] = None,
    unlock: Annotated[
        str | None,
        typer.Option(
            help="Password or recovery key of the image's encrypted volumes (BitLocker, "
            "LUKS, FileVault, APFS)."
        ),
    ] = None,
    device_type: DeviceType = None,
    device_make: DeviceMake = None,
    device_model: DeviceModel = None,
    device_serial: DeviceSerial = None,
) -> None:
    """Register a seized item; its kind and, for disk images, format, volumes and acquisition
    hashes are detected."""
    from lanterne.evidence.registry import Device, add_evidence

    device = Device(device_type, device_make, device_model, device_serial)
    with open_case(case) as c:
        try:
            ev = add_evidence(
                c, path, label, suspect, examiner, RichProgress(), kind, unlock, device
            )
        except LanterneError as exc:
            fail(exc)
        sha = f", SHA-256 {ev.sha256}" if ev.sha256 else ""
        fmt = f" {ev.format}" if ev.format else ""
        console.print(
            f"registered [bold]{ev.label}[/] ({ev.kind}{fmt}, {ev.size or 0:,} bytes{sha})"
        )
        _print_details(ev.details_json)


def _print_details(details: dict[str, Any]) -> None:
    acq = details.get("acquisition") or {}
    if acq:
        console.print(
            f"  acquisition hashes stored in the image: MD5 {acq.get('stored_md5') or '—'}, "
            f"SHA-1 {acq.get('stored_sha1') or '—'}"
        )
        for k, v in sorted((acq.get("headers") or {}).items()):
            console.print(f"  {k}: {v}")
    for k in ("acquisition_error", "scan_error"):
        if details.get(k):
            console.print(f"  [yellow]{k.replace('_', ' ')}:[/] {details[k]}")
    for v in details.get("volumes", []):
        console.print(f"  file system {v['file_system']} at {v['path'] or '(whole image)'}")
    for v in details.get("locked", []):
        console.print(
            f"  [yellow]encrypted {v['encryption']} volume at {v['path']}[/]: "
            "not unlocked (register again with --unlock KEY to read it)"
        )
    if details.get("platform"):
        console.print(f"  phone extraction: {details['platform']}")


@evidence_app.command("device")
def evidence_device(
    case: CaseArg,
    label: Annotated[str, typer.Argument(help="The item's label.")],
    device_type: DeviceType = None,
    device_make: DeviceMake = None,
    device_model: DeviceModel = None,
    device_serial: DeviceSerial = None,
) -> None:
    """Record the seized device an item comes from (type, make, model, serial): the figures
    count computers, storage media and phones by it, and pictures whose camera serial is a
    suspect's own device are a production indicator."""
    from lanterne.evidence.registry import Device, set_device

    with open_case(case) as c:
        try:
            ev = set_device(c, label, Device(device_type, device_make, device_model, device_serial))
        except LanterneError as exc:
            fail(exc)
        facts = [ev.device_type, ev.device_make, ev.device_model, ev.device_serial]
        console.print(f"{ev.label}: {' '.join(f for f in facts if f) or 'no device facts'}")


@evidence_app.command("verify")
def evidence_verify(
    case: CaseArg,
    label: Annotated[str, typer.Argument(help="The item's label.")],
    examiner: Annotated[str | None, typer.Option(help="Who verifies (default: you).")] = None,
) -> None:
    """Recompute an item's media hash and compare it with the hashes stored at acquisition
    (EWF) or at registration; the outcome is recorded in the case."""
    from lanterne.evidence.verify import verify_evidence

    with open_case(case) as c:
        try:
            v = verify_evidence(c, label, examiner, RichProgress())
        except LanterneError as exc:
            fail(exc)
        colour = {"match": "green", "no-stored-hash": "yellow"}.get(v["outcome"], "red")
        console.print(f"[bold {colour}]{v['outcome']}[/]: {v['detail']}")
        for name in ("md5", "sha1", "sha256"):
            if v.get(name):
                out.print(f"{name.upper():7} {v[name]}")
        if v["outcome"] not in ("match", "no-stored-hash"):
            raise typer.Exit(1)


@evidence_app.command("show")
def evidence_show(
    case: CaseArg, label: Annotated[str, typer.Argument(help="The item's label.")]
) -> None:
    """An item's registration, image details, verifications and known application data."""
    with open_case(case) as c:
        ev = c.store.evidence_by_label(label)
        if ev is None:
            fail(LanterneError(f"no evidence item labelled {label!r} in this case"))
            return
        console.print(
            f"[bold]{ev.label}[/] {ev.kind} {ev.format or ''} {ev.size or 0:,} bytes, "
            f"{ev.status}; registered by {ev.registered_by} at {ev.registered_at:%Y-%m-%d %H:%M} "
            f"UTC from {ev.location}"
        )
        _print_details(ev.details_json)
        facts = [ev.device_type, ev.device_make, ev.device_model, ev.device_serial]
        if any(facts):
            console.print(f"  seized device: {' '.join(f for f in facts if f)}")
        for v in c.store.verifications(ev.id):
            console.print(
                f"  verified {v['verified_at']:%Y-%m-%d %H:%M} UTC by {v['verified_by']}: "
                f"{v['outcome']} — {v['detail']}"
            )
        for a in c.store.app_data(ev.id):
            console.print(f"  {a['app']}: {a['path']}")


@evidence_app.command("list")
def evidence_list(case: CaseArg) -> None:
    """List the case's evidence items."""
    with open_case(case) as c:
        table = Table("label", "kind", "suspect", "status", "bytes", "location")
        for ev in c.store.list_evidence():
            table.add_row(
                ev.label, ev.kind, ev.suspect or "", ev.status, f"{ev.size or 0:,}", ev.location
            )
        out.print(table)


@app.command()
def ingest(
    case: CaseArg,
    workers: Annotated[
        int | None, typer.Option(help="Worker threads (default: all cores).")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Ingest only this label (repeatable).")
    ] = None,
) -> None:
    """Ingest every registered item not yet done; safe to re-run after a crash."""
    from lanterne.hashsets.matching import match_exact
    from lanterne.ingest.pipeline import Ingestor

    with open_case(case) as c:
        try:
            result = Ingestor(c, workers, RichProgress()).run(only)
            matched = match_exact(c)
        except LanterneError as exc:
            fail(exc)
        console.print(
            f"ingested {result.items} item(s): {result.files:,} files, {result.bytes:,} bytes, "
            f"{result.new_contents:,} new contents, {result.warnings:,} warnings; "
            f"{matched:,} new hash-set matches"
        )


@hashset_app.command("import")
def hashset_import(
    case: CaseArg,
    file: Annotated[Path, typer.Argument(help="The hash-set file.")],
    role: Annotated[str, typer.Option(help="known-bad, known-good or alert.")],
    name: Annotated[str | None, typer.Option(help="The set's name (default: file name).")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="The file's format (default: detected).")
    ] = None,
    scheme: Annotated[
        str | None,
        typer.Option(help="Category scheme of the set, e.g. vics-us (default: as the file says)."),
    ] = None,
    examiner: Annotated[str | None, typer.Option(help="Who imports it (default: you).")] = None,
) -> None:
    """Import a hash set (VICS JSON, ICSE CSV, NSRL RDS, hashdeep, md5sum/sha*sum, Autopsy .kdb,
    EnCase .hash, PDQ lists) and match the case's contents against it."""
    from lanterne.hashsets.importer import import_hashset
    from lanterne.hashsets.matching import match_exact

    with open_case(case) as c:
        try:
            r = import_hashset(c, file, role, name, fmt, scheme, examiner, RichProgress())
            matched = match_exact(c)
        except LanterneError as exc:
            fail(exc)
        if r.unchanged:
            console.print(f"hash set [bold]{r.name}[/] is already imported from this file")
        else:
            verb = "replaced" if r.replaced else "imported"
            console.print(f"{verb} hash set [bold]{r.name}[/] ({r.format}): {r.entries:,} entries")
        console.print(f"{matched:,} new matches")


@app.command()
def groups(
    case: CaseArg,
    top: Annotated[int, typer.Option(help="Show this many of the largest groups.")] = 10,
) -> None:
    """Group the case's pictures (PDQ) and videos (vPDQ frame sets) into near-duplicates, and
    store the groups."""
    from sqlalchemy import func, select

    from lanterne.case import schema
    from lanterne.match.groups import build_groups

    with open_case(case) as c:
        r = build_groups(c)
        console.print(
            f"{r.pictures:,} pictures in {r.groups:,} groups; {r.grouped:,} pictures have a "
            f"near-duplicate; the largest group holds {r.largest:,}"
        )
        console.print(
            f"{r.videos:,} videos in {r.video_groups:,} groups; {r.videos_grouped:,} videos have "
            f"a near-duplicate; the largest group holds {r.largest_video_group:,}"
        )
        g = schema.pdq_group
        table = Table("representative (SHA-256)", "members", title="Largest groups")
        query = (
            select(g.c.group_sha256, func.count().label("n"))
            .group_by(g.c.group_sha256)
            .having(func.count() > 1)
            .order_by(func.count().desc(), g.c.group_sha256)
            .limit(top)
        )
        for row in c.store.rows(query):
            table.add_row(row.group_sha256, f"{row.n:,}")
        out.print(table)


@hashset_app.command("list")
def hashset_list(case: CaseArg) -> None:
    """The case's hash sets."""
    from lanterne.case import schema

    with open_case(case) as c:
        table = Table("name", "role", "scheme", "format", "entries", "imported", "source")
        for r in c.store.rows(schema.hashset.select().order_by(schema.hashset.c.name)):
            table.add_row(
                r.name,
                r.role,
                r.scheme or "",
                r.format,
                f"{r.entries:,}",
                f"{r.imported_at:%Y-%m-%d %H:%M} by {r.imported_by}",
                r.source,
            )
        out.print(table)


@app.command()
def summary(
    case: CaseArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What the case holds: items, files, contents by kind and type, warnings."""
    from lanterne.report.summary import summarize

    with open_case(case) as c:
        data = summarize(c)
    if as_json:
        out.print_json(json.dumps(data))
    else:
        _print_summary(data)


def _print_summary(d: dict[str, Any]) -> None:
    out.print(
        f"[bold]Case {d['case']}[/]: {d['items']} items, {d['files']:,} files "
        f"({d['bytes']:,} bytes), {d['distinct_contents']:,} distinct contents"
    )
    kinds = Table("", "files", "distinct", "bytes", title="Material")
    for name in ("pictures", "videos", "other"):
        k = d[name]
        kinds.add_row(name, f"{k.get('files', 0):,}", f"{k['contents']:,}", f"{k['bytes']:,}")
    out.print(kinds)
    items = Table(
        "item",
        "kind",
        "suspect",
        "status",
        "files",
        "pictures",
        "videos",
        "warnings",
        "verified",
        title="Evidence items",
    )
    for ev in d["evidence"]:
        items.add_row(
            ev["label"],
            ev["kind"] + (f" ({ev['format']})" if ev.get("format") else ""),
            ev["suspect"] or "",
            ev["status"],
            f"{ev['files']:,}",
            f"{ev['pictures']:,}",
            f"{ev['videos']:,}",
            f"{ev['warnings']:,}",
            ev.get("verification") or "",
        )
    out.print(items)
    types = Table("type", "files", "distinct", "bytes", title="By type")
    for t in d["by_type"][:15]:
        types.add_row(t["mime"], f"{t['files']:,}", f"{t['contents']:,}", f"{t['bytes']:,}")
    out.print(types)
    if d["warnings_by_reason"]:
        warns = Table("reason", "count", title=f"Warnings ({d['warnings']:,})")
        for reason, n in d["warnings_by_reason"].items():
            warns.add_row(reason, f"{n:,}")
        out.print(warns)
    out.print(
        f"extension mismatches: {d['extension_mismatches']:,}; deleted files recovered: "
        f"{d['deleted_files']:,}; carved pictures: {d['carved_files']:,}"
    )
    m = d["matches"]
    if m["hashsets"]:
        sets = Table("hash set", "role", "contents matched", title="Hash sets")
        for s in m["hashsets"]:
            sets.add_row(s["hashset"], s["role"], f"{s['contents']:,}")
        out.print(sets)
        for scheme, cats in m["matched_by_category"].items():
            shown = ", ".join(f"{cat}: {n:,}" for cat, n in sorted(cats.items()))
            out.print(f"known-bad by category ({scheme}): {shown}")
        out.print(
            f"known-good (excluded from review): {m['known_good_contents']:,}; category "
            f"conflicts: {m['category_conflicts']:,}"
        )
    out.print(
        f"new material (no hash set knows it): {m['new_pictures']:,} pictures, "
        f"{m['new_videos']:,} videos; near-duplicate groups: {m['near_duplicate_groups']:,} "
        f"({m['pictures_in_groups']:,} pictures; `lanterne groups` recomputes them)"
    )
    v = d["video"]
    out.print(
        f"video: {v['hours']:,.2f} hours; frames hashed for {v['frames_hashed_videos']:,} videos "
        f"({v['frame_hashes']:,} frame hashes)"
    )
    for name, item in v["matched_by_set"].items():
        methods = ", ".join(f"{k} {n:,}" for k, n in sorted(item["by_method"].items()))
        cats = ", ".join(f"{k}: {n:,}" for k, n in sorted(item["by_category"].items()))
        out.print(f"  videos matched by {name} ({item['role']}): {methods}; by category {cats}")
    if d["app_data"]:
        apps = Table("item", "application data", "path", title="Known application data")
        for a in d["app_data"]:
            apps.add_row(a["evidence"], a["app"], a["path"])
        out.print(apps)


@chats_app.command("import")
def chats_import(
    case: CaseArg,
    fmt: Annotated[
        str,
        typer.Argument(metavar="FORMAT", help="signal-desktop, signal-android-backup or generic."),
    ],
    path: Annotated[
        Path | None,
        typer.Argument(
            help="The Signal Desktop profile folder (holding config.json and sql/), the "
            ".backup file, or the generic CSV / JSON Lines export."
        ),
    ] = None,
    evidence: Annotated[
        str | None,
        typer.Option(help="Search this registered (ingested) item for the chat data instead."),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Label of the item PATH is registered as (default: name).")
    ] = None,
    suspect: Annotated[str | None, typer.Option(help="Whose item PATH is.")] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="Signal Desktop: the 64-hex database key, or on Windows the unwrapped "
            "(DPAPI) 32-byte key in hex."
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            help="Signal Desktop: the macOS keychain 'Signal Safe Storage' password or the "
            "Linux secret-service / KWallet password."
        ),
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Signal Desktop: a file holding the key (hex or raw).")
    ] = None,
    passphrase: Annotated[
        str | None, typer.Option(help="Signal Android backup: the 30-digit passphrase.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker threads for attachments (default: all cores).")
    ] = None,
) -> None:
    """Import a chat database: participants and their identifiers, groups, memberships,
    messages, and attachments (hashed, analysed and matched like any file).

    The generic layout (CSV with a header, or one JSON object per line) has the fields
    platform, conversation_id, timestamp (required), conversation_name, conversation_type
    (group/direct), message_id, sender_phone, sender_id, sender_username, sender_name,
    direction (incoming/outgoing), body, attachment_path (beside the export),
    attachment_sha256, attachment_md5, attachment_name, attachment_type.
    """
    from lanterne.messaging.service import Secrets, import_chats

    secrets = Secrets(key, password, key_file, passphrase)
    with open_case(case) as c:
        try:
            results, matched = import_chats(
                c,
                fmt,
                path,
                evidence=evidence,
                label=label,
                suspect=suspect,
                secrets=secrets,
                progress=RichProgress(),
                workers=workers,
            )
        except LanterneError as exc:
            fail(exc)
        for r in results:
            n = r.counts
            if r.already:
                console.print(f"{r.app} database already imported (source {r.source_id})")
                continue
            console.print(
                f"imported {r.app} database (schema {r.schema_version}): "
                f"{n.get('accounts', 0):,} accounts, {n.get('groups', 0):,} groups, "
                f"{n.get('memberships', 0):,} memberships, {n.get('messages', 0):,} messages, "
                f"{n.get('attachments', 0):,} attachments, {n.get('warnings', 0):,} warnings"
            )
        console.print(f"{matched:,} new hash-set matches")


@chats_app.command("summary")
def chats_summary_cmd(
    case: CaseArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    top: Annotated[int, typer.Option(help="Show this many groups.")] = 20,
) -> None:
    """Groups with their members, messages and attachments; known material shared; persons
    by country."""
    from lanterne.report.chats import chats_summary

    with open_case(case) as c:
        data = chats_summary(c)
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(
        f"[bold]{data['persons']:,} persons[/] ({data['participants']:,} accounts seen), "
        f"{len(data['groups']):,} groups, {data['messages']:,} messages, "
        f"{data['attachments']['total']:,} attachments"
    )
    table = Table(
        "group",
        "members",
        "admins",
        "messages",
        "attachments",
        "items",
        "last message",
        title="Groups (largest first)",
    )
    for g in data["groups"][:top]:
        table.add_row(
            g["title"] or g["key"][:24],
            f"{g['members']:,}",
            f"{g['admins']:,}",
            f"{g['messages']:,}",
            f"{g['attachments']:,}",
            str(g["items"]),
            (g["last_message"] or "")[:19],
        )
    out.print(table)
    a = data["attachments"]
    out.print(
        f"attachments: {a['distinct_contents']:,} distinct contents; known-bad: "
        f"{a['known_bad']:,}; by state: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(a["by_state"].items()))
    )
    for scheme, cats in a["known_bad_by_category"].items():
        shown = ", ".join(f"{cat}: {n:,}" for cat, n in sorted(cats.items()))
        out.print(f"known-bad attachments by category ({scheme}): {shown}")
    countries = data["persons_by_country"]
    out.print(
        f"persons in {len([k for k in countries if k != 'unknown'])} countries: "
        + ", ".join(f"{k} {v:,}" for k, v in list(countries.items())[:30])
    )


@export_app.command("files")
def export_files_cmd(
    case: CaseArg,
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv or hashdeep.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default stdout).")
    ] = None,
    selection: Annotated[
        str,
        typer.Option(
            "--select",
            help="all; new (no hash set matches the content); no-known-good (all but NSRL-"
            "like matches).",
        ),
    ] = "all",
) -> None:
    """One row per file occurrence, with digests, type, picture facts and provenance."""
    from lanterne.report.export import FORMATS, SELECTIONS, export_files

    if fmt not in FORMATS:
        console.print(f"[bold red]error:[/] unknown format {fmt!r}; use {', '.join(FORMATS)}")
        raise typer.Exit(2)
    if selection not in SELECTIONS:
        console.print(f"[bold red]error:[/] unknown selection {selection!r}; use {SELECTIONS}")
        raise typer.Exit(2)
    with open_case(case) as c:
        if output is None:
            n = export_files(c, fmt, sys.stdout, selection)
        else:
            with output.open("w", encoding="utf-8", newline="") as f:
                n = export_files(c, fmt, f, selection)
    console.print(f"exported {n:,} rows")


@export_app.command("vics")
def export_vics_cmd(
    case: CaseArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="The JSON file to write.")],
    scheme: Annotated[
        str | None, typer.Option(help="Category scheme to write (default: the sets' own).")
    ] = None,
) -> None:
    """The case's pictures and videos as a VICS 2.0 #Cases document (categories, SHA-256 and
    PDQ, every place each was found)."""
    from lanterne.report.vics_export import export_vics

    with open_case(case) as c:
        n = export_vics(c, output, scheme)
    console.print(f"exported {n:,} media to {output}")


@export_app.command("pdq")
def export_pdq_cmd(
    case: CaseArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="The file to write.")],
    new_only: Annotated[
        bool, typer.Option("--new-only", help="Only pictures no hash set knows.")
    ] = False,
) -> None:
    """The PDQ of the case's pictures, one ``hash,quality,name`` line each."""
    from lanterne.report.vics_export import export_pdq

    with open_case(case) as c:
        n = export_pdq(c, output, new_only)
    console.print(f"exported {n:,} PDQ hashes to {output}")


@app.command()
def demo(
    case: Annotated[Path, typer.Argument(help="Case folder to create.")] = Path("lanterne-demo"),
    scale: Annotated[int, typer.Option(help="Multiply the number of synthetic pictures.")] = 1,
    workers: Annotated[int | None, typer.Option(help="Worker threads.")] = None,
) -> None:
    """Build a synthetic operation (benign generated data), ingest it, print the summary."""
    from lanterne.evidence.registry import add_evidence
    from lanterne.ingest.pipeline import Ingestor
    from lanterne.report.summary import summarize
    from lanterne.synth.case import make_operation

    case = case.absolute()
    evidence_root = case.with_name(case.name + "-evidence")
    try:
        if (case / "case.toml").exists():
            c = Case.open(case)
            console.print(f"re-using the demo case in {case}")
        else:
            console.print(f"generating a synthetic operation in {evidence_root} …")
            operation = make_operation(evidence_root, seed=0, scale=scale)
            c = Case.init(case, "Demo operation (synthetic)")
            for item in operation.items:
                add_evidence(c, item.path, item.label, item.suspect, "demo")
            _demo_disk(c, evidence_root, operation.items[0].suspect)
        with c:
            _demo_chats(c, evidence_root, workers)
            Ingestor(c, workers, RichProgress()).run()
            _print_summary(summarize(c))
            _demo_network(c, evidence_root, workers)
    except LanterneError as exc:
        fail(exc)
    console.print(
        f"\nnext: [bold]lanterne network stats {case}[/], "
        f"[bold]lanterne priorities {case} --explain[/], "
        f"[bold]lanterne user add {case} NAME --role supervisor[/] then "
        f"[bold]lanterne serve {case}[/]"
    )


def _demo_network(c: Case, evidence_root: Path, workers: int | None) -> None:
    """A Signal network seized on three phones, with the suspects' computers, a camera and
    storage, the investigators' suspects file and two watchlists; then the operation's figures
    and the first priorities."""
    from lanterne.commands.network import figure_lines
    from lanterne.commands.priorities import print_ranked
    from lanterne.network.figures import operation_figures
    from lanterne.network.graph import build_graph
    from lanterne.network.priorities import rank
    from lanterne.synth.network import load_into, make_network

    console.print("the network: suspects, watchlists, Signal groups on three seized phones …")
    planted = make_network(
        evidence_root / "network", participants=1500, groups=8, label_prefix="NET-"
    )
    load_into(c, planted, workers or 2)
    for line in figure_lines(operation_figures(c)):
        console.print(f"  {line}")
    print_ranked(rank(c, graph=build_graph(c), limit=8))


def _demo_chats(c: Case, evidence_root: Path, workers: int | None) -> None:
    """A suspect's Signal: the Desktop profile of a seized computer (key protected by a Linux
    keyring password the examiner obtained) and an Android backup from his phone."""
    from lanterne.messaging.service import Secrets, import_chats
    from lanterne.synth.signal_android import make_passphrase, make_signal_backup
    from lanterne.synth.signal_desktop import make_desktop_profile

    desktop = evidence_root / "PC-09"
    if not desktop.exists():
        make_desktop_profile(desktop, key_form="linux-v11", password="demo-keyring", seed=9)
    phone = evidence_root / "PHONE-07"
    backup = next(phone.glob("*.backup"), None)
    if backup is None:
        backup = make_signal_backup(phone, seed=3, recipients=60, groups=4, messages=600).path
        assert backup is not None
    imports = (
        ("signal-desktop", desktop / "Signal", "PC-09", Secrets(password="demo-keyring")),
        ("signal-android-backup", backup, "PHONE-07", Secrets(passphrase=make_passphrase(3))),
    )
    for fmt, path, label, secrets in imports:
        results, _ = import_chats(
            c, fmt, path, label=label, suspect="Suspect B", secrets=secrets, workers=workers
        )
        for r in results:
            n = r.counts
            console.print(
                f"chats of {label}: {n.get('messages', 0):,} messages, {n.get('groups', 0)} "
                f"groups, {n.get('attachments', 0)} attachments"
                + (" (already imported)" if r.already else "")
            )


def _demo_disk(c: Case, evidence_root: Path, suspect: str | None) -> None:
    """A seized hard disk as an E01 (FAT32, ext4, NTFS; deleted and carvable pictures), when
    the Debian tools that build it are installed (see .ci/run); else the demo goes without."""
    from lanterne.evidence.registry import add_evidence
    from lanterne.synth.disks import MissingTool, make_disk_case

    try:
        disk = make_disk_case(evidence_root / "HDD-06", seed=0)
    except MissingTool as exc:
        console.print(f"[yellow]no disk image in the demo:[/] {exc}")
        return
    add_evidence(c, disk.e01[0], "HDD-06", suspect, "demo")


if __name__ == "__main__":  # pragma: no cover
    app()
