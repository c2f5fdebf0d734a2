"""Read-only views of cached objects, and ``deep_copy`` to get one you may change.

An informer's cache is shared by every controller in the process: if one changed an object
in place, the others would see a state the API server never had. So the cache hands out
views that read like the dicts and lists they wrap but refuse every change. To change an
object, take a mutable copy first, as upstream controllers call ``obj.DeepCopy()``::

    rs = deep_copy(informer.cache.get("default/web"))
    rs["spec"]["replicas"] = 3
    client.resource("apps/v1", "replicasets").update(rs)

Views are made lazily, one level at a time, as fields are read: handing out a view costs
nothing, however big the object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn, overload

_READ_ONLY = (
    "objects from the informer cache are read-only (other controllers share them): "
    "take a copy with kubelab.runtime.deep_copy(obj) and change that"
)


def read_only(value: Any) -> Any:
    """``value`` as a read-only view if it is a dict or list; other values are immutable already."""
    if isinstance(value, dict):
        return ReadOnlyDict(value)
    if isinstance(value, list):
        return ReadOnlyList(value)
    return value


def deep_copy(value: Any) -> Any:
    """A mutable deep copy of a JSON-like value: views become plain dicts and lists."""
    if isinstance(value, ReadOnlyDict | ReadOnlyList):
        value = value._data
    return _copy(value)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    return value._data if isinstance(value, ReadOnlyDict | ReadOnlyList) else value


class ReadOnlyDict(Mapping[str, Any]):
    """A dict you can read (``obj["spec"]``, ``.get``, ``in``, iteration) but not change."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return read_only(self._data[key])

    def get(self, key: str, default: Any = None) -> Any:
        return read_only(self._data.get(key, default))

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        return self._data == _unwrap(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReadOnlyDict({self._data!r})"

    def __copy__(self) -> ReadOnlyDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return _copy(self._data)  # type: ignore[no-any-return]

    def __setitem__(self, key: str, value: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    def __delitem__(self, key: str) -> NoReturn:
        raise TypeError(_READ_ONLY)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_data" or hasattr(self, "_data"):
            raise TypeError(_READ_ONLY)
        object.__setattr__(self, name, value)

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    setdefault = pop = popitem = update = clear = _refuse


class ReadOnlyList(Sequence[Any]):
    """A list you can read (indexing, slicing, iteration, ``len``) but not change."""

    __slots__ = ("_data",)

    def __init__(self, data: list[Any]) -> None:
        self._data = data

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> ReadOnlyList: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ReadOnlyList(self._data[index])
        return read_only(self._data[index])

    def __iter__(self) -> Iterator[Any]:
        return (read_only(v) for v in self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, value: object) -> bool:
        return _unwrap(value) in self._data

    def __eq__(self, other: object) -> bool:
        return self._data == _unwrap(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReadOnlyList({self._data!r})"

    def __copy__(self) -> ReadOnlyList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return _copy(self._data)  # type: ignore[no-any-return]

    def __setitem__(self, index: int | slice, value: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    def __delitem__(self, index: int | slice) -> NoReturn:
        raise TypeError(_READ_ONLY)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_data" or hasattr(self, "_data"):
            raise TypeError(_READ_ONLY)
        object.__setattr__(self, name, value)

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __iadd__(self, other: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)
