"""The report's figures as JSON, and back: times in ISO 8601 (UTC), durations in seconds.

One codec for every dataclass of :mod:`clarion.review.figures` and :mod:`clarion.review.trend`,
driven by their type hints, so a figure added there is carried here without a line more, and
``from_json(Kind, to_json(x)) == x`` holds for each of them (the tests check it).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """``value`` (a figures dataclass, or anything inside one) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def from_json(kind: type[T], data: Any) -> T:
    """The dataclass ``kind`` read back from what :func:`to_json` made of one."""
    made: T = _read(kind, data)
    return made


def _read(hint: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _read(inner, data)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_read(item, element) for element in data]
    if origin is dict:
        key, item = typing.get_args(hint)
        return {_read(key, k): _read(item, v) for k, v in data.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: _read(hints[f.name], data[f.name]) for f in dataclasses.fields(hint)})
    if hint is datetime:
        return datetime.fromisoformat(data)
    if hint is timedelta:
        return timedelta(seconds=data)
    if hint is float:
        return float(data)
    return hint(data)
