"""One strategy per built-in resource: defaulting, validation, status rules, table columns.

:func:`strategy_for` is how the generic registry finds a resource's strategy;
:func:`status_strategy_for` the one for its ``/status`` subresource.
"""

from __future__ import annotations

from kubelab.api.resources import ResourceInfo
from kubelab.apiserver.strategy import Strategy

_STRATEGIES: dict[tuple[str, str], type[Strategy]] = {}


def strategy_for(info: ResourceInfo) -> Strategy:
    """The strategy of ``info``'s resource (the generic one if it has none of its own)."""
    return _STRATEGIES.get((info.group, info.plural), Strategy)(info)


def status_strategy_for(info: ResourceInfo) -> Strategy:
    """The strategy of the resource's ``/status`` subresource."""
    return strategy_for(info)
