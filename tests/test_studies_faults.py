"""Study store field faults: transient database errors, damaged indexes, two instances, read-only folders.

Each case uses the real failure: another connection holding the index, a full filesystem, a
truncated or garbage index file, a second process holding the folder, a read-only mount.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner_app.studies import Patient, StudyStore, rebuild_index
from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import PacsDestination, PacsSender, SendStatus
from tests.studies_support import make_frame

REPO = Path(__file__).resolve().parents[1]
HOSPITAL = PacsDestination("hospital", "127.0.0.1", 11112, "PACS", "SCANNER")
RESEARCH = PacsDestination("research", "127.0.0.1", 11113, "RPACS", "SCANNER")


def _store_with_send_queue(root: Path) -> dict[tuple[str, str], tuple[str, int, str]]:
    """A study of four captures with send states for two destinations; returns the sends table."""
    with StudyStore(root) as store:
        study = store.start_study(Patient("P-Q", "Queue^Pat"), "Op^One")
        captures = [store.save_still(study, make_frame(i)) for i in range(4)]
    hospital = PacsSender(root, HOSPITAL)
    research = PacsSender(root, RESEARCH)
    try:
        hospital.enqueue(captures)
        research.enqueue(captures[:2])
        # The states a sender reaches through its own path: confirmed, refused, retried later.
        hospital._set(captures[0].sop_instance_uid, SendStatus.SENT, 1, "", 0.0)
        hospital._set(captures[1].sop_instance_uid, SendStatus.FAILED, 1, "refused: 0xC000", 0.0)
        hospital._retry_later(captures[2].sop_instance_uid, 2, "PACS busy")
        research._set(captures[1].sop_instance_uid, SendStatus.SENT, 1, "", 0.0)
    finally:
        hospital.close()
        research.close()
    return _sends(root)


def _sends(root: Path) -> dict[tuple[str, str], tuple[str, int, str]]:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        rows = conn.execute(
            "SELECT sop_instance_uid, destination, status, attempts, last_error FROM sends"
        ).fetchall()
    finally:
        conn.close()
    return {(r[0], r[1]): (r[2], int(r[3]), r[4]) for r in rows}


def _index_bytes(root: Path) -> bytes:
    """The index file's content (SQLite's own -wal/-shm working files may come and go)."""
    return (root / "index.sqlite").read_bytes()


# ----- item 8: a transient error deletes nothing; only proven damage rebuilds -----


def test_a_locked_index_is_reported_and_nothing_is_deleted(tmp_path: Path) -> None:
    sends = _store_with_send_queue(tmp_path)
    assert len(sends) == 6
    holder = sqlite3.connect(tmp_path / "index.sqlite", isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")  # another program holds the index, as a backup tool might
        before = _index_bytes(tmp_path)
        with pytest.raises(StudyError) as err:
            StudyStore(tmp_path, busy_timeout_s=0.2)
        message = str(err.value)
        assert type(err.value).__name__ == "StudyStoreUnavailable"
        assert "database is locked" in message and "close it and start again" in message
        assert "\n" not in message
        assert _index_bytes(tmp_path) == before
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _sends(tmp_path) == sends
    with StudyStore(tmp_path) as store:  # the lock gone, the store opens as it was
        assert not store.last_reconcile.index_rebuilt
        assert len(store.list_captures()) == 4
    assert _sends(tmp_path) == sends


@contextlib.contextmanager
def _tmpfs(mount_dir: Path, size: str) -> Iterator[Path]:
    mount_dir.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_dir
    finally:
        busy = subprocess.run(["umount", str(mount_dir)], capture_output=True, text=True, check=False)
        if busy.returncode != 0:
            # Still open somewhere (a store the test failed to close): detach it, then fail loudly.
            subprocess.run(["umount", "-l", str(mount_dir)], check=False)
            pytest.fail(f"{mount_dir} was still in use: {busy.stderr.strip()}")


def test_a_full_disk_at_start_up_is_reported_and_nothing_is_deleted(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "tiny", "512k") as root:
        sends = _store_with_send_queue(root)
        filler = root / "filler"
        with open(filler, "wb", buffering=0) as fh, contextlib.suppress(OSError):
            while True:  # fill the filesystem for real
                fh.write(b"\0" * 4096)
        before = _index_bytes(root)
        with pytest.raises(StudyError) as err:
            StudyStore(root, busy_timeout_s=0.2)
        assert "disk is full" in str(err.value) and "free some space" in str(err.value)
        assert _index_bytes(root) == before
        filler.unlink()
        with StudyStore(root) as store:
            assert not store.last_reconcile.index_rebuilt
        assert _sends(root) == sends


def _truncate_index(root: Path) -> None:
    path = root / "index.sqlite"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _garbage_index(root: Path) -> None:
    (root / "index.sqlite").write_bytes(b"this is not a database" * 100)


def _damaged_page(root: Path) -> None:
    """A valid header with a btree page overwritten: only PRAGMA integrity_check can tell."""
    path = root / "index.sqlite"
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    for page in range(1, len(data) // page_size):
        data[page * page_size : page * page_size + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate_index, _garbage_index, _damaged_page])
def test_a_damaged_index_is_rebuilt_with_its_send_queue(tmp_path: Path, damage: object) -> None:
    sends = _store_with_send_queue(tmp_path)
    # A clean close checkpoints the WAL into the main file; the damage hits the only copy.
    assert not (tmp_path / "index.sqlite-wal").exists() or (tmp_path / "index.sqlite-wal").stat().st_size == 0
    assert callable(damage)
    damage(tmp_path)
    with StudyStore(tmp_path) as store:
        assert store.last_reconcile.index_rebuilt
        assert len(store.list_captures()) == 4
    restored = _sends(tmp_path)
    assert restored == sends
    assert {v[0] for v in restored.values()} == {"queued", "sent", "failed"}
    assert list(tmp_path.glob("index.sqlite.damaged-*"))  # kept for a person to look at


def test_an_explicit_rebuild_keeps_the_send_queue(tmp_path: Path) -> None:
    sends = _store_with_send_queue(tmp_path)
    report = rebuild_index(tmp_path)
    assert report.index_rebuilt and len(report.captures_added) == 4
    assert _sends(tmp_path) == sends
    # The journal is compacted on open and still restores after a second rebuild.
    lines = (tmp_path / "send-journal.jsonl").read_text().splitlines()
    assert len(lines) == len(sends)
    rebuild_index(tmp_path)
    assert _sends(tmp_path) == sends


def test_a_journal_line_cut_by_a_crash_costs_only_that_line(tmp_path: Path) -> None:
    sends = _store_with_send_queue(tmp_path)
    journal = tmp_path / "send-journal.jsonl"
    with open(journal, "ab") as fh:
        fh.write(b'{"op": "set", "sop_instance_uid": "1.2.3", "destin')  # the crash
    _garbage_index(tmp_path)
    with StudyStore(tmp_path) as store:
        assert store.last_reconcile.sends_restored == len(sends)
    assert _sends(tmp_path) == sends


# ----- item 9: one app per study folder -----

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from scanner_app.studies import StudyStore

    store = StudyStore(Path(sys.argv[1]))
    print("HOLDING", flush=True)
    sys.stdin.read()  # hold the folder until killed
    """
)


@contextlib.contextmanager
def _holder(root: Path) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "HOLDING", child.stderr.read() if child.stderr else line
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)


def test_a_second_instance_is_refused_and_a_killed_holder_releases_the_folder(tmp_path: Path) -> None:
    with StudyStore(tmp_path) as store:
        study = store.start_study(Patient("P-L"), "Op^One")
        store.save_still(study, make_frame(1))
    in_flight = tmp_path / study.directory / f".0002-clip.dcm.{os.getpid()}.tmp"
    with _holder(tmp_path) as child:
        in_flight.write_bytes(b"half a clip the first instance is still writing")
        with pytest.raises(StudyError) as err:
            StudyStore(tmp_path)
        message = str(err.value)
        assert f"process {child.pid}" in message and str(tmp_path) in message
        assert "\n" not in message
        assert in_flight.exists()  # only the holder may clear temp files
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        with StudyStore(tmp_path) as store:  # the OS released the dead holder's lock
            assert store.last_reconcile.temp_files_removed == (str(in_flight.relative_to(tmp_path)),)
            assert len(store.list_captures()) == 1
    assert not in_flight.exists()


def test_a_second_store_in_the_same_process_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = StudyStore(tmp_path)
    with pytest.raises(StudyError, match=f"process {os.getpid()}"):
        StudyStore(tmp_path)
    first.close()
    StudyStore(tmp_path).close()


# ----- item 17 (store side): a read-only folder is refused, nothing rebuilt -----


@contextlib.contextmanager
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    """A study folder with one capture that cannot be written: chmod, or a read-only mount as root."""
    if os.geteuid() != 0:
        root = tmp_path / "ro"
        with StudyStore(root) as store:
            store.save_still(store.start_study(Patient("P-RO"), "Op^One"), make_frame(1))
        paths = [root, *root.rglob("*")]
        for p in paths:
            p.chmod(p.stat().st_mode & ~0o222)
        try:
            yield root
        finally:
            for p in paths:
                p.chmod(p.stat().st_mode | 0o200)
        return
    # root ignores permission bits: use a filesystem that is really read-only.
    with _tmpfs(tmp_path / "ro", "4m") as root:
        with StudyStore(root) as store:
            store.save_still(store.start_study(Patient("P-RO"), "Op^One"), make_frame(1))
        remount = subprocess.run(
            ["mount", "-o", "remount,ro", str(root)], capture_output=True, text=True, check=False
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount the tmpfs read-only: {remount.stderr.strip()}")
        yield root


def test_a_read_only_folder_is_refused_without_a_rebuild(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with read_only_store(tmp_path) as root:
        before = _index_bytes(root)
        with pytest.raises(StudyError) as err:
            StudyStore(root)
        assert "read-only" in str(err.value) and "--study-dir" in str(err.value)
        assert "rebuilding" not in caplog.text
        assert _index_bytes(root) == before
