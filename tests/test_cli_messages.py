"""What the command line says after a run: no misleading probe state, a clamped gate named, one line
for an unreachable worklist (a newcomer's findings)."""

from __future__ import annotations

import pytest

from tests.cli_support import run_main


@pytest.mark.slow
def test_a_good_headless_run_does_not_call_the_probe_disconnected_and_names_a_clamped_gate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--headless", "--probe", "sim", "--seconds", "1", "--doppler", "pw", "--gate-depth-mm", "500"]
    run = run_main(args, capsys)
    assert run.code == 0, run.err
    first = run.out.splitlines()[0]
    assert first.startswith("probe: ") and "disconnected" not in first
    assert "--gate-depth-mm 500 is outside what the probe offers; it put the gate at" in run.err


def test_an_unreachable_worklist_is_one_line_and_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_main(["--list-worklist", "WL@127.0.0.1:9"], capsys)
    assert run.code == 1
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("scanner-app: error: worklist: cannot reach"), run.err
