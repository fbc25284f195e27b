"""``lanterne user …`` and ``lanterne audit …``: the people who may open a case on the web,
and the check of its audit log."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from lanterne.commands.common import CaseArg, console, fail, open_case, out
from lanterne.errors import LanterneError, UserError
from lanterne.review import audit
from lanterne.review.users import ROLES, add_user, disable_user, list_users, set_password

user_app = typer.Typer(help="Manage who may open the case on the web.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and verify the case's audit log.", no_args_is_help=True)


def _operator() -> str:
    """Who ran a command, as the audit log names them."""
    return f"cli:{getpass.getuser()}"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    case: CaseArg,
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.", show_default=False)],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user (the password is asked twice, never echoed)."""
    with open_case(case) as c:
        try:
            if role not in ROLES:
                raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
            password = _password(password_stdin)
            user = add_user(c.store, name, password, role)
            audit.keep_witness(c)
            audit.record(c.store, _operator(), audit.USER_ADD, user.name, {"role": user.role})
        except LanterneError as exc:
            fail(exc)
    console.print(f"user [bold]{user.name}[/] added as {user.role}")


@user_app.command("list")
def user_list(case: CaseArg) -> None:
    """The case's users and their roles."""
    with open_case(case) as c:
        users = list_users(c.store)
    table = Table("name", "role", "state")
    for u in users:
        table.add_row(u.name, u.role, "disabled" if u.disabled else "active")
    out.print(table)


@user_app.command("disable")
def user_disable(
    case: CaseArg, name: Annotated[str, typer.Argument(help="The user's sign-in name.")]
) -> None:
    """Disable a user (kept for the audit trail) and end their sessions."""
    with open_case(case) as c:
        try:
            user = disable_user(c.store, name)
            audit.keep_witness(c)
            audit.record(c.store, _operator(), audit.USER_DISABLE, user.name)
        except LanterneError as exc:
            fail(exc)
    console.print(f"user [bold]{user.name}[/] disabled")


@user_app.command("password")
def user_password(
    case: CaseArg,
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's password (their sessions end)."""
    with open_case(case) as c:
        try:
            set_password(c.store, name, _password(password_stdin))
            audit.keep_witness(c)
            audit.record(c.store, _operator(), audit.USER_PASSWORD, name)
        except LanterneError as exc:
            fail(exc)
    console.print(f"password of [bold]{name}[/] changed")


@audit_app.command("verify")
def audit_verify(case: CaseArg) -> None:
    """Check every entry's hash chain and the head against the witness file; exit status 1
    naming the first broken entry when the log was edited, cut or reordered."""
    with open_case(case) as c:
        report = audit.verify(c.store, audit.witness_path(c))
    for note in report.notes:
        console.print(f"note: {note}")
    if not report.ok:
        for problem in report.problems:
            console.print(f"[bold red]broken:[/] {problem}")
        where = f" at entry {report.first_bad}" if report.first_bad is not None else ""
        console.print(f"[bold red]the audit log is not intact{where}[/]")
        raise typer.Exit(1)
    out.print(f"audit log intact: {report.entries} entries, head {report.head}")


@audit_app.command("show")
def audit_show(
    case: CaseArg,
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 50,
    user: Annotated[str | None, typer.Option(help="Only this user's entries.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (reveal, login …).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The latest audit entries."""
    with open_case(case) as c:
        rows = audit.entries(c.store, limit=limit, user=user, action=action)
    if as_json:
        out.print_json(json.dumps([e.as_dict() for e in rows]))
        return
    table = Table("id", "at (UTC)", "user", "action", "target", "detail")
    for e in rows:
        table.add_row(
            str(e.id),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.user,
            e.action,
            e.target,
            json.dumps(e.detail, ensure_ascii=False) if e.detail else "",
        )
    out.print(table)
