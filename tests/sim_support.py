"""What the virtual patient's renderer computes, counted: the anatomy cell columns and the tissue
cells a frame redoes, for tests that check a cache spares the rest."""

from __future__ import annotations

from typing import Any

import pytest

import drivers.sim.patient as patient_module


def count_cell_columns(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets the number of cell columns of every `_cells` call from now on."""
    computed: list[int] = []
    real = patient_module._cells

    def counting(*args: Any, **kwargs: Any) -> Any:
        cells = real(*args, **kwargs)
        computed.append(cells.index.shape[1])
        return cells

    monkeypatch.setattr(patient_module, "_cells", counting)
    return computed


def count_painted_cells(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets the number of cells (rows x columns) every `_tissue` call paints from now on."""
    painted: list[int] = []
    real = patient_module._tissue

    def counting(*args: Any, **kwargs: Any) -> Any:
        tissue = real(*args, **kwargs)
        painted.append(tissue[0].size)
        return tissue

    monkeypatch.setattr(patient_module, "_tissue", counting)
    return painted
