"""How long-running library calls report progress without printing.

The CLI passes a reporter drawing rich progress bars; tests and the web pass their own or none.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, task: str, total_bytes: int | None = None) -> None:
        """A new phase begins; ``total_bytes`` when known lets the reporter show an ETA."""

    def advance(self, files: int = 0, nbytes: int = 0, total_bytes: int | None = None) -> None:
        """``files`` more done, ``nbytes`` more of the known total read (the total may grow)."""

    def finish(self) -> None:
        """The phase is over."""


class NoProgress:
    """Reports nothing."""

    def start(self, task: str, total_bytes: int | None = None) -> None:
        pass

    def advance(self, files: int = 0, nbytes: int = 0, total_bytes: int | None = None) -> None:
        pass

    def finish(self) -> None:
        pass
