"""Lanterne's exceptions.

The tree::

    LanterneError            every error Lanterne raises on purpose
    ├── UserError            the examiner asked for something impossible (missing path,
    │                        duplicate label, unknown case): the message says what to do
    ├── NotMyFormat          a reader was given input of another format; try the next reader
    └── CorruptData          the input is of this format but damaged, truncated or hostile

Per-item problems met during ingest never propagate: they become stored warnings
(:class:`lanterne.evidence.base.EntryWarning`) with provenance, and the run goes on.
"""


class LanterneError(Exception):
    """Root of all errors raised on purpose by Lanterne."""


class UserError(LanterneError):
    """A request that cannot be carried out as asked; the message tells the user what to do."""


class NotMyFormat(LanterneError):
    """The data is not of the format this reader handles."""


class CorruptData(LanterneError):
    """The data claims this format but is damaged, truncated, encrypted or hostile.

    ``reason`` is a short stable code stored with the warning (``truncated``,
    ``decompression-bomb``, ``encrypted`` …); ``detail`` says more for a person.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
