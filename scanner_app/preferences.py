"""Preferences remembered between runs, as one JSON file in the user's configuration folder."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "grey_map": "Linear",
    "preset": "",
    "clip_seconds": 3.0,
    "capture_dir": "",
    "probe_spec": "sim",
    "window_geometry": "",
    "window_state": "",  # QMainWindow.saveState (toolbar and docks), base64
    "side_panel": {},  # {"width_px": int, "collapsed": bool}: the side tabs as the user left them
    "body_marker_region": "Knee",
    "body_marker_side": "R",
    "settings": {},  # SettingKey name -> last requested value
    "retention_days": 0,  # delete committed studies older than this many days; 0: never (off)
    "commitment_port": 11112,  # where PACS storage commitment reports reach this scanner (TCP)
}


class Preferences:
    """A dict of preferences backed by a JSON file; a damaged file is set aside, not fatal."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.values: dict[str, Any] = json.loads(json.dumps(DEFAULTS))
        self._load()

    def _load(self) -> None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("could not read preferences %s: %s", self.path, exc)
            return
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            bad = self.path.with_suffix(".damaged.json")
            log.warning("preferences %s are damaged (%s); moved to %s, using defaults", self.path, exc, bad)
            try:
                os.replace(self.path, bad)
            except OSError:
                pass
            return
        for k, v in data.items():
            if k not in DEFAULTS:
                continue
            default = DEFAULTS[k]
            if isinstance(default, float) and isinstance(v, int | float) and not isinstance(v, bool):
                self.values[k] = float(v)
            elif isinstance(v, type(default)):
                self.values[k] = v

    def get(self, key: str) -> Any:
        return self.values.get(key, DEFAULTS.get(key))

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown preference {key!r}")
        self.values[key] = value

    def save(self) -> None:
        """Write atomically; a failure is logged, never raised (it must not stop a shutdown)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.values, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("could not save preferences to %s: %s", self.path, exc)
