"""Ctrl+C during a headless run: the summary is still given, over the time it ran, marked interrupted.
Run in a child process, which sends itself a real SIGINT once the first frame is in the ring."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from drivers.sim.direct import DirectSimProbe
    from scanner_app.engine import AcquisitionEngine
    from scanner_app.headless import run_headless
    from scanner_app.ring import FrameRing

    engine = AcquisitionEngine(DirectSimProbe(), FrameRing(32, 512 * 512))
    sent = []

    def interrupt_once(_event):
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl+C in the terminal

    engine.frame_ready.connect(interrupt_once)
    summary = run_headless(engine, 60.0)
    print(json.dumps({"interrupted": summary["interrupted"], "seconds": summary["seconds"],
                      "frames": summary["frames_received"], "running": engine.running}))
    """
)


def test_ctrl_c_gives_the_summary_of_the_time_run() -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=50, cwd=root, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["interrupted"] is True and result["running"] is False
    assert result["frames"] >= 1 and result["seconds"] < 60.0
