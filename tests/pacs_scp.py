"""A small PACS for tests: a pynetdicom Storage and Verification SCP on 127.0.0.1, on a free port.

It records what it stored, answers C-STORE with the status the test sets, and can be limited to one
association at a time (`maximum_associations=1`) like a small PACS. Stop it (or use it as a context
manager) so its threads are joined before the test ends.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification  # type: ignore[attr-defined]

from scanner_app.studies.dicom_writer import US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE
from tests.orthanc_fixture import _free_port


class TestScp:
    """One pynetdicom SCP; `stored` lists the SOP Instance UIDs received, in order (duplicates too)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(
        self,
        ae_title: str = "TESTSCP",
        *,
        max_associations: int = 10,
        port: int | None = None,
        sop_classes: tuple[str, ...] = (US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE),
        mpps: bool = False,
    ) -> None:
        self.ae_title = ae_title
        self.port = port or _free_port()
        self.store_status = 0x0000
        self.stored: list[str] = []
        self.received: dict[str, Dataset] = {}  # the last dataset stored per SOP Instance UID
        self._lock = threading.Lock()
        self._ae = AE(ae_title=ae_title)
        self._ae.maximum_associations = max_associations
        self._ae.network_timeout = 5  # its association threads end soon after a peer lets go
        self._ae.add_supported_context(Verification)
        for sop_class in sop_classes:
            self._ae.add_supported_context(sop_class)
        if mpps:
            self._ae.add_supported_context(ModalityPerformedProcedureStep)
        # MPPS: each step as it stands (N-CREATE, then every N-SET applied), and the requests in order.
        self.mpps: dict[str, Dataset] = {}
        self.mpps_requests: list[tuple[str, str]] = []  # ("N-CREATE" or "N-SET", SOP Instance UID)
        self._server: Any = None

    def _on_store(self, event: Any) -> int:
        with self._lock:
            if self.store_status == 0x0000:
                self.stored.append(str(event.request.AffectedSOPInstanceUID))
                ds = event.dataset
                ds.file_meta = event.file_meta
                self.received[str(event.request.AffectedSOPInstanceUID)] = ds
            return self.store_status

    def _on_n_create(self, event: Any) -> tuple[int, Dataset | None]:
        uid = event.request.AffectedSOPInstanceUID
        with self._lock:
            if uid is None or str(uid) in self.mpps:
                return 0x0111, None  # duplicate SOP instance
            ds = Dataset()
            ds.SOPClassUID = ModalityPerformedProcedureStep
            ds.SOPInstanceUID = uid
            ds.update(event.attribute_list)
            self.mpps[str(uid)] = ds
            self.mpps_requests.append(("N-CREATE", str(uid)))
            return 0x0000, ds

    def _on_n_set(self, event: Any) -> tuple[int, Dataset | None]:
        uid = str(event.request.RequestedSOPInstanceUID)
        with self._lock:
            ds = self.mpps.get(uid)
            if ds is None:
                return 0x0112, None  # no such SOP instance
            if ds.PerformedProcedureStepStatus != "IN PROGRESS":
                return 0x0110, None  # a finished step may not change (processing failure)
            ds.update(event.attribute_list)
            self.mpps_requests.append(("N-SET", uid))
            return 0x0000, ds

    def start(self) -> TestScp:
        handlers = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_N_CREATE, self._on_n_create),
            (evt.EVT_N_SET, self._on_n_set),
        ]
        self._server = self._ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)
        return self

    def active_associations(self) -> int:
        return len([a for a in self._ae.active_associations if a.is_acceptor])

    def hold_association(self) -> Association:
        """Open a Verification association from another AE and keep it: the SCP's one slot is taken."""
        holder = AE(ae_title="HOLDER")
        holder.add_requested_context(Verification)
        assoc = holder.associate("127.0.0.1", self.port, ae_title=self.ae_title)
        assert assoc.is_established, "the test could not take the SCP's association slot"
        return assoc

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        for thread in threading.enumerate():
            if thread.name.startswith(("AcceptorThread", "RequestorThread")):
                thread.join(10)

    def __enter__(self) -> TestScp:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
