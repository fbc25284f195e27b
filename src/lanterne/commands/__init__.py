"""The command modules of the ``lanterne`` command, registered by :mod:`lanterne.cli`."""
