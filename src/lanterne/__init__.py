"""Lanterne: one case from everything seized in an operation.

The library never prints; the CLI (:mod:`lanterne.cli`) and the web app are thin shells over it.
"""

from lanterne.errors import CorruptData, LanterneError, NotMyFormat, UserError

__all__ = ["CorruptData", "LanterneError", "NotMyFormat", "UserError", "__version__"]
__version__ = "0.1.0"
