"""Run the program's command line in this process, as the console entry would, and keep what it said."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import main


@dataclass(frozen=True)
class CliRun:
    """Exit status and the text printed to stdout and stderr."""

    code: int
    out: str
    err: str


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> CliRun:
    """`main.main(argv)`: argument errors exit through argparse, probe errors return 2; both count."""
    capsys.readouterr()  # only what this run prints
    try:
        code = main.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    printed = capsys.readouterr()
    return CliRun(code, printed.out, printed.err)
