"""Crash safety: a capturing process killed with SIGKILL loses nothing it had confirmed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydicom

from scanner_app.studies import StudyStore

REPO = Path(__file__).resolve().parents[1]

# The child captures stills in a loop and prints CONFIRMED after each save returns. From capture
# number `stall_at` on, its writer writes half a file, says MIDWRITE and blocks, so the parent can
# kill it at a known point: mid-capture, with a temp file on disk.
CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from scanner_app.studies import Patient, StudyStore
    from tests.studies_support import make_frame

    root, stall_at = Path(sys.argv[1]), int(sys.argv[2])
    count = 0

    def writer(fh, payload):
        if count >= stall_at and payload[128:132] == b"DICM":
            fh.write(payload[: len(payload) // 2])
            fh.flush()
            print("MIDWRITE", flush=True)
            sys.stdin.read()  # block until killed
        fh.write(payload)

    store = StudyStore(root, write_bytes=writer)
    study = store.start_study(Patient("P-CRASH", "Crash^Test"), "Op^One")
    while True:
        record = store.save_still(study, make_frame(count), {"laterality": "R", "body_part": "KNEE"})
        print("CONFIRMED", record.sop_instance_uid, count, flush=True)
        count += 1
    """
)


def _run_until_midwrite(root: Path, stall_at: int) -> list[tuple[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(stall_at)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    confirmed: list[tuple[str, int]] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("CONFIRMED"):
                _, uid, seq = line.split()
                confirmed.append((uid, int(seq)))
            elif line.startswith("MIDWRITE"):
                break
        else:
            raise AssertionError(f"child ended early: {child.stderr.read() if child.stderr else ''}")
        assert list(root.glob("studies/*/.*.tmp")), "the child should be part-way through a file"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL
    return confirmed


def test_sigkill_mid_capture_keeps_every_confirmed_capture(tmp_path: Path) -> None:
    from tests.studies_support import make_frame

    confirmed = _run_until_midwrite(tmp_path, stall_at=6)
    assert len(confirmed) == 6

    with StudyStore(tmp_path) as store:
        assert len(store.last_reconcile.temp_files_removed) == 1
        assert list(tmp_path.rglob("*.tmp")) == []
        captures = store.list_captures()
        assert [c.sop_instance_uid for c in captures] == [uid for uid, _ in confirmed]
        for record, (_, seq) in zip(captures, confirmed, strict=True):
            ds = pydicom.dcmread(store.capture_path(record))
            np.testing.assert_array_equal(ds.pixel_array, make_frame(seq).pixels)
        indexed = {c.path for c in captures}
        on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.dcm")}
        assert indexed == on_disk
        # Capturing goes on after the restart, numbered after the last kept capture.
        (study,) = store.list_studies()
        nxt = store.save_still(study, make_frame(99))
        assert nxt.instance_number == len(confirmed) + 1


def test_file_renamed_but_not_indexed_is_picked_up_on_open(tmp_path: Path) -> None:
    """The other crash window: the file is in place but the index commit never happened."""
    import sqlite3

    from scanner_app.studies import Patient
    from tests.studies_support import make_frame

    with StudyStore(tmp_path) as store:
        study = store.start_study(Patient("P-1"), "Op^One")
        kept = store.save_still(
            study, make_frame(1), {"plane": "short axis"}, [{"label": "x", "value_mm": 1.0}]
        )
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    conn.execute("DELETE FROM captures")
    conn.commit()
    conn.close()
    with StudyStore(tmp_path) as store:
        assert store.last_reconcile.captures_added == (kept.path,)
        assert store.list_captures() == [kept]
