"""The department's table from a scheduled procedure (as the RIS names it) to a protocol of the library."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from protocols.model import ScanProtocol

DEFAULT_PROCEDURE_MAP = Path(__file__).with_name("procedures.yaml")


class ProcedureMapError(ValueError):
    """The procedure table cannot be read or names something that is not there."""


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass(frozen=True, slots=True)
class ProcedureProtocolMap:
    """Requested procedure (code value or description) -> protocol id, matched without case or spaces."""

    protocols: Mapping[str, str]

    @classmethod
    def load(cls, path: Path = DEFAULT_PROCEDURE_MAP) -> ProcedureProtocolMap:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ProcedureMapError(f"cannot read the procedure table {path}: {exc}") from exc
        table = data.get("procedures") if isinstance(data, dict) else None
        if not isinstance(table, dict):
            raise ProcedureMapError(f"{path}: expected 'procedures:' with procedure: protocol id lines")
        bad = [k for k, v in table.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise ProcedureMapError(
                f"{path}: {bad[0]!r}: both the procedure and the protocol id must be text"
            )
        return cls({_key(k): v.strip() for k, v in table.items()})

    def protocol_id(self, code: str, description: str) -> str | None:
        """The protocol id for a requested procedure, by its code first, else its description."""
        for text in (code, description):
            if text.strip() and _key(text) in self.protocols:
                return self.protocols[_key(text)]
        return None

    def unknown_protocols(self, library: Iterable[ScanProtocol]) -> list[str]:
        """The protocol ids the table names that the library does not have (for a check at start)."""
        known = {p.id for p in library}
        return sorted({p for p in self.protocols.values() if p not in known})
