"""Test helper: run a resource's strategy as the generic registry does (create, update, table rows)."""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api.meta import parse_time
from kubelab.api.resources import ResourceRegistry
from kubelab.apiserver.resources import status_strategy_for, strategy_for

NOW = parse_time("2026-01-01T12:00:00Z")


class Harness:
    """Runs one resource's strategy the way the generic registry does: default, prepare, validate."""

    def __init__(self, group: str, plural: str) -> None:
        info = next(i for i in ResourceRegistry() if (i.group, i.plural) == (group, plural))
        self.strategy = strategy_for(info)
        self.status = status_strategy_for(info)

    def create(self, obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The object as it would be stored, and the field errors as ``path: message`` strings."""
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {}).setdefault("uid", "7f3c0000-0000-4000-8000-000000000001")
        self.strategy.default(obj)
        self.strategy.prepare_for_create(obj)
        errors = self.strategy.validate(obj)
        self.strategy.canonicalize(obj)
        return obj, [str(e) for e in errors]

    def update(self, obj: dict[str, Any], old: dict[str, Any], *, status: bool = False) -> tuple[dict[str, Any], list[str]]:
        strategy = self.status if status else self.strategy
        obj = copy.deepcopy(obj)
        strategy.default(obj)
        strategy.prepare_for_update(obj, old)
        errors = strategy.validate_update(obj, old)
        strategy.canonicalize(obj)
        return obj, [str(e) for e in errors]

    def row(self, obj: dict[str, Any], *, wide: bool = False) -> dict[str, Any]:
        """The Table row as kubectl prints it: column name (upper-cased) → cell, wide columns optional."""
        columns = self.strategy.table_columns()
        cells = self.strategy.table_cells(obj, NOW)
        assert len(columns) == len(cells)
        return {c["name"].upper(): cell for c, cell in zip(columns, cells, strict=True) if wide or c["priority"] == 0}
