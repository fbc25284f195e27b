"""What every command module shares: the consoles, the case argument, progress bars and
the one way to fail with a message."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from lanterne.case.workspace import Case
from lanterne.errors import LanterneError

console = Console(stderr=True)
out = Console()

CaseArg = Annotated[Path, typer.Argument(help="The case folder.")]


class RichProgress:
    """Progress bars with file counts, bytes, throughput and ETA."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None
        self.files = 0

    def start(self, task: str, total_bytes: int | None = None) -> None:
        self.bar.start()
        self.files = 0
        self.task = self.bar.add_task(task, total=total_bytes, files=0)

    def advance(self, files: int = 0, nbytes: int = 0, total_bytes: int | None = None) -> None:
        if self.task is None:
            return
        self.files += files
        kw: dict[str, Any] = {"advance": nbytes, "files": self.files}
        if total_bytes is not None:
            kw["total"] = total_bytes
        self.bar.update(self.task, **kw)

    def finish(self) -> None:
        self.bar.stop()
        self.task = None


def fail(exc: LanterneError) -> NoReturn:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def open_case(path: Path) -> Case:
    try:
        return Case.open(path)
    except LanterneError as exc:
        fail(exc)
