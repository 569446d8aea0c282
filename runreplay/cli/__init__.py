"""`runreplay ...`: the command line, a thin layer over the library (one command, one call)."""

from runreplay.cli.main import main

__all__ = ["main"]
