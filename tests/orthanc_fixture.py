"""A private Orthanc PACS for tests: own config, storage and free ports, started and stopped by the test.

Orthanc 1.10 cannot bind its DICOM port to loopback only, so it accepts C-STORE and C-ECHO only from
the one modality it knows: our calling AE title, from 127.0.0.1 (DicomCheckModalityHost). Its HTTP
server answers local requests only (RemoteAccessAllowed false).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CALLING_AE = "SCANNERAPP"
ORTHANC_AE = "TESTPACS"
# Debian's orthanc package ships the Modality Worklists plugin here (it serves *.wl files of a folder).
WORKLIST_PLUGIN_PATHS = (
    Path("/usr/share/orthanc/plugins/libModalityWorklists.so"),
    Path("/usr/lib/orthanc/libModalityWorklists.so"),
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OrthancServer:
    """One Orthanc process with a generated config; start() waits until its REST API answers.

    With `worklists` it loads the Modality Worklists plugin, serving the worklist files (*.wl) a test
    writes into `worklist_dir`."""

    def __init__(self, work_dir: Path, *, worklists: bool = False, modality_port: int = 104) -> None:
        exe = shutil.which("Orthanc")
        if exe is None:
            pytest.fail(
                "the Orthanc binary is not installed: apt-get install -y orthanc "
                "(the @pytest.mark.orthanc tests need a real PACS and must not be skipped)"
            )
        self.exe = exe
        self.work_dir = work_dir
        self.dicom_port = _free_port()
        self.http_port = _free_port()
        self.aet = ORTHANC_AE
        self.config_path = work_dir / "orthanc.json"
        self.log_path = work_dir / "orthanc.log"
        storage = work_dir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        self.worklist_dir = work_dir / "worklists"
        plugins: list[str] = []
        if worklists:
            plugin = next((p for p in WORKLIST_PLUGIN_PATHS if p.exists()), None)
            if plugin is None:
                pytest.fail(
                    "Orthanc's Modality Worklists plugin is not installed (Debian's orthanc package ships "
                    f"it in {WORKLIST_PLUGIN_PATHS[0].parent}): apt-get install -y orthanc"
                )
            plugins.append(str(plugin))
            self.worklist_dir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "Name": "scanner-app-test",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "Plugins": plugins,
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": True,
            # Where Orthanc reaches the scanner: its storage commitment reports go there.
            "DicomModalities": {"scanner": [CALLING_AE, "127.0.0.1", modality_port]},
            "UnknownSopClassAccepted": False,
            "ConcurrentJobs": 1,
            "HttpThreadsCount": 4,
            "DicomThreadsCount": 2,
            "SaveJobs": False,
            "StableAge": 1,
        }
        if worklists:
            config["Worklists"] = {"Enable": True, "Database": str(self.worklist_dir)}
        self.config_path.write_text(json.dumps(config, indent=2))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout_s: float = 20.0) -> None:
        assert self.proc is None, "Orthanc is already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [self.exe, str(self.config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=self.work_dir
        )
        # Wait for /system to answer; waiting on the process doubles as the pause between attempts,
        # and notices at once if Orthanc exits.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._system_answers():
                return
            try:
                self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"Orthanc exited with {self.proc.returncode}: {self._log_tail()}")
        raise AssertionError(f"Orthanc did not answer on {self.url} within {timeout_s} s: {self._log_tail()}")

    def _system_answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/system", timeout=1.0) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, graceful: bool = False) -> None:
        """Stop Orthanc; by default with SIGKILL (a PACS crash), as a clean shutdown takes ~3 s."""
        if self.proc is None:
            return
        if graceful:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        else:
            self.proc.kill()
        self.proc.wait(timeout=15)
        self.proc = None
        self._log.close()

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10.0) as resp:
            return json.loads(resp.read())

    def upload(self, dicom_file: bytes) -> None:
        """Store a DICOM file through the REST API (a study another modality made)."""
        request = urllib.request.Request(self.url + "/instances", data=dicom_file, method="POST")
        with urllib.request.urlopen(request, timeout=10.0) as resp:
            assert resp.status == 200

    def get_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10.0) as resp:
            return bytes(resp.read())

    def sop_instance_uids(self) -> list[str]:
        """The SOP Instance UID of every instance Orthanc holds."""
        return [
            str(self.get(f"/instances/{oid}")["MainDicomTags"]["SOPInstanceUID"])
            for oid in self.get("/instances")
        ]

    def new_instance_events(self) -> int:
        """How many times Orthanc stored a new instance (a duplicate C-STORE adds none)."""
        changes = self.get("/changes?limit=1000")
        return sum(1 for c in changes["Changes"] if c["ChangeType"] == "NewInstance")


@pytest.fixture
def orthanc_worklist(tmp_path: Path) -> Iterator[OrthancServer]:
    """An Orthanc that also serves a Modality Worklist from `worklist_dir`."""
    server = OrthancServer(tmp_path / "orthanc", worklists=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[OrthancServer]:
    server = OrthancServer(tmp_path / "orthanc")
    server.start()
    try:
        yield server
    finally:
        server.stop()
