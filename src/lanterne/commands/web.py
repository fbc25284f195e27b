"""``lanterne serve``: the case's web review, served by uvicorn (a thin shell over
:func:`lanterne.web.app.create_app`).

Bound to loopback by default: the review shows material, so reaching it from another machine
is a deliberate choice (``--allow-remote``), and one that needs TLS (``--tls-cert`` and
``--tls-key``, or a TLS-terminating proxy on the same machine) so that passwords and session
cookies never cross a network in clear.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from lanterne.commands.common import CaseArg, console, fail, open_case
from lanterne.errors import LanterneError, UserError


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool, tls: bool) -> str | None:
    """Refuse a host other machines can reach unless ``allow_remote``; the warning to print
    when it is allowed (None for loopback)."""
    if is_loopback(host):
        return None
    if not allow_remote:
        raise UserError(
            f"{host} can be reached from other machines; the review shows material, so it is "
            "served on 127.0.0.1 only unless you pass --allow-remote (with TLS: --tls-cert and "
            "--tls-key, or a TLS proxy)"
        )
    if tls:
        return f"serving on {host}: reachable from other machines (TLS on)"
    return (
        f"serving on {host} WITHOUT TLS: passwords and session cookies cross the network in "
        "clear; use --tls-cert/--tls-key or put a TLS proxy in front"
    )


def serve(
    case: CaseArg,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow an address other machines can reach (needs TLS)."
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM) to serve HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Serve the case's web review: dashboard, review grid, items, chats, suspects and the
    audit log, for the users added with `lanterne user add`."""
    import uvicorn

    from lanterne.review.users import list_users
    from lanterne.web.app import create_app

    if (tls_cert is None) != (tls_key is None):
        fail(UserError("give both --tls-cert and --tls-key, or neither"))
    try:
        warning = check_host(host, allow_remote, tls_cert is not None)
    except UserError as exc:
        fail(exc)
    with open_case(case) as c:
        try:
            app = create_app(c)
            users = [u for u in list_users(c.store) if not u.disabled]
        except LanterneError as exc:
            fail(exc)
        if warning:
            console.print(f"[bold yellow]warning:[/] {warning}")
        if not users:
            console.print(
                "[yellow]no users yet:[/] add one with "
                f"`lanterne user add {case} NAME --role supervisor`"
            )
        scheme = "https" if tls_cert else "http"
        console.print(f"serving [bold]{c.name}[/] on {scheme}://{host}:{port} (Ctrl-C stops)")
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            server_header=False,
            proxy_headers=False,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
        )
