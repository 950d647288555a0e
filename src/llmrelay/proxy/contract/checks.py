"""Value checks for request fields, each also able to describe itself as JSON Schema.

A check is called with the value, the field's path (``temperature``,
``messages[2].role``) and the proxy's :class:`~llmrelay.proxy.limits.Limits`; it returns
nothing or raises a 400 :class:`~llmrelay.proxy.errors.ProxyError` in OpenAI's shape
(``param`` = the path, ``code`` = ``invalid_type``, ``decimal_above_max_value``, ...).
:meth:`Check.schema` gives the same rule as JSON Schema for ``/openapi.json``, so the
document and the checks cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ProxyError
from ..limits import Limits

__all__ = ["AnyOf", "Any_", "Array", "Boolean", "Check", "Integer", "Number", "Object",
           "String", "describe", "invalid"]

INT64 = 2**63 - 1


def describe(value: Any) -> str:
    """OpenAI's name for a JSON value's type, with its article."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def invalid(path: str, message: str, code: str = "invalid_value") -> ProxyError:
    return ProxyError(400, message, param=path, code=code)


def _wrong_type(path: str, expected: str, value: Any) -> ProxyError:
    return invalid(path, f"Invalid type for '{path}': expected {expected}, but got "
                         f"{describe(value)} instead.", "invalid_type")


class Check:
    """A rule for one JSON value. ``expected`` names the accepted type in messages."""

    expected = "a value"
    nullable = True  # null means "not set", as OpenAI's SDKs send it

    def __call__(self, value: Any, path: str, limits: Limits) -> None:
        if value is None and self.nullable:
            return
        self.check(value, path, limits)

    def check(self, value: Any, path: str, limits: Limits) -> None:
        raise NotImplementedError

    def schema(self, limits: Limits) -> dict[str, Any]:
        raise NotImplementedError

    def accepts(self, value: Any, limits: Limits) -> bool:
        try:
            self(value, "", limits)
        except ProxyError:
            return False
        return True


class Any_(Check):
    """Anything JSON can hold (nested size is bounded by the body size)."""

    def __init__(self, description: str = "") -> None:
        self.description = description

    def check(self, value: Any, path: str, limits: Limits) -> None:
        return

    def schema(self, limits: Limits) -> dict[str, Any]:
        return {"description": self.description} if self.description else {}


class Number(Check):
    """A JSON number in ``[lo, hi]`` (booleans are not numbers)."""

    expected = "a decimal"

    def __init__(self, lo: float | None = None, hi: float | None = None, *,
                 exclusive_lo: bool = False) -> None:
        self.lo, self.hi, self.exclusive_lo = lo, hi, exclusive_lo

    def check(self, value: Any, path: str, limits: Limits) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong_type(path, self.expected, value)
        if self.lo is not None and (value < self.lo or (self.exclusive_lo and value == self.lo)):
            rel = ">" if self.exclusive_lo else ">="
            raise invalid(path, f"Invalid '{path}': decimal below minimum value. Expected a "
                                f"value {rel} {self.lo:g}, but got {value} instead.",
                          "decimal_below_min_value")
        if self.hi is not None and value > self.hi:
            raise invalid(path, f"Invalid '{path}': decimal above maximum value. Expected a "
                                f"value <= {self.hi:g}, but got {value} instead.",
                          "decimal_above_max_value")

    def schema(self, limits: Limits) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "number"}
        if self.lo is not None:
            out["exclusiveMinimum" if self.exclusive_lo else "minimum"] = self.lo
        if self.hi is not None:
            out["maximum"] = self.hi
        return out


class Integer(Check):
    """A JSON integer in ``[lo, hi]``; ``limit`` names a :class:`Limits` field as ``hi``."""

    expected = "an integer"

    def __init__(self, lo: int | None = None, hi: int | None = None, *,
                 limit: str | None = None) -> None:
        self.lo, self.hi, self.limit = lo, hi, limit

    def _hi(self, limits: Limits) -> int | None:
        return int(getattr(limits, self.limit)) if self.limit else self.hi

    def check(self, value: Any, path: str, limits: Limits) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # 1.0 is an integer in JSON's number model
            else:
                raise _wrong_type(path, self.expected, value)
        hi = self._hi(limits)
        if self.lo is not None and value < self.lo:
            raise invalid(path, f"Invalid '{path}': integer below minimum value. Expected a "
                                f"value >= {self.lo}, but got {value} instead.",
                          "integer_below_min_value")
        if hi is not None and value > hi:
            where = f" (general_settings.{self.limit})" if self.limit else ""
            raise invalid(path, f"Invalid '{path}': integer above maximum value. Expected a "
                                f"value <= {hi}{where}, but got {value} instead.",
                          "integer_above_max_value")

    def schema(self, limits: Limits) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.lo is not None:
            out["minimum"] = self.lo
        hi = self._hi(limits)
        if hi is not None:
            out["maximum"] = hi
        return out


class Boolean(Check):
    expected = "a boolean"

    def check(self, value: Any, path: str, limits: Limits) -> None:
        if not isinstance(value, bool):
            raise _wrong_type(path, self.expected, value)

    def schema(self, limits: Limits) -> dict[str, Any]:
        return {"type": "boolean"}


class String(Check):
    """A string, optionally one of ``choices`` and at most ``max_len`` characters."""

    expected = "a string"

    def __init__(self, choices: Sequence[str] = (), *, max_len: int | None = None,
                 min_len: int = 0, nullable: bool = True) -> None:
        self.choices = tuple(choices)
        self.max_len, self.min_len, self.nullable = max_len, min_len, nullable

    def check(self, value: Any, path: str, limits: Limits) -> None:
        if not isinstance(value, str):
            raise _wrong_type(path, self.expected, value)
        if self.choices and value not in self.choices:
            listed = ", ".join(f"'{c}'" for c in self.choices)
            raise invalid(path, f"Invalid value for '{path}': {_short(value)!r}. Supported "
                                f"values are: {listed}.")
        if self.max_len is not None and len(value) > self.max_len:
            raise invalid(path, f"Invalid '{path}': string too long. Expected a string with "
                                f"maximum length {self.max_len}, but got a string with length "
                                f"{len(value)} instead.", "string_above_max_length")
        if len(value) < self.min_len:
            raise invalid(path, f"Invalid '{path}': string too short. Expected a string with "
                                f"minimum length {self.min_len}, but got a string with length "
                                f"{len(value)} instead.", "string_below_min_length")

    def schema(self, limits: Limits) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.choices:
            out["enum"] = list(self.choices)
        if self.max_len is not None:
            out["maxLength"] = self.max_len
        if self.min_len:
            out["minLength"] = self.min_len
        return out


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."


class Object(Check):
    """A JSON object. ``fields`` are checked when present; ``required`` must be present;
    ``values`` checks every other member (None: anything); ``closed`` refuses members
    outside ``fields``."""

    expected = "an object"

    def __init__(self, fields: Mapping[str, Check] | None = None, *,
                 required: Sequence[str] = (), values: Check | None = None,
                 max_depth: str | None = None, nullable: bool = True,
                 closed: bool = False) -> None:
        self.fields = dict(fields or {})
        self.required = tuple(required)
        self.values, self.max_depth, self.nullable = values, max_depth, nullable
        self.closed = closed

    def check(self, value: Any, path: str, limits: Limits) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path, self.expected, value)
        for name in self.required:
            if value.get(name) is None:
                raise invalid(f"{path}.{name}", f"Missing required parameter: "
                                                f"'{path}.{name}'.", "missing_required_parameter")
        for name, item in value.items():
            rule = self.fields.get(name, self.values)
            if rule is not None:
                rule(item, f"{path}.{name}", limits)
            elif self.closed:
                raise invalid(f"{path}.{name}", f"Unknown parameter: '{path}.{name}'.",
                              "unknown_parameter")
        if self.max_depth is not None:
            depth = int(getattr(limits, self.max_depth))
            if nesting(value, depth) > depth:
                raise invalid(path, f"Invalid '{path}': nested more than {depth} levels deep "
                                    f"(general_settings.{self.max_depth}).", "too_deep")

    def schema(self, limits: Limits) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if self.fields:
            out["properties"] = {k: v.schema(limits) for k, v in self.fields.items()}
        if self.required:
            out["required"] = list(self.required)
        if self.values is not None:
            out["additionalProperties"] = self.values.schema(limits)
        elif self.closed:
            out["additionalProperties"] = False
        return out


class Array(Check):
    """A JSON array of ``items``, with at least ``min_items`` and at most ``max_items``
    entries (``limit`` names a :class:`Limits` field as the maximum)."""

    expected = "an array"

    def __init__(self, items: Check | None = None, *, min_items: int = 0,
                 max_items: int | None = None, limit: str | None = None) -> None:
        self.items, self.min_items = items, min_items
        self.max_items, self.limit = max_items, limit

    def _max(self, limits: Limits) -> int | None:
        return int(getattr(limits, self.limit)) if self.limit else self.max_items

    def check(self, value: Any, path: str, limits: Limits) -> None:
        if not isinstance(value, list):
            raise _wrong_type(path, self.expected, value)
        if len(value) < self.min_items:
            raise invalid(path, f"Invalid '{path}': empty array. Expected an array with "
                                f"minimum length {self.min_items}, but got an empty array "
                                f"instead." if not value else
                                f"Invalid '{path}': array too short. Expected an array with "
                                f"minimum length {self.min_items}, but got an array with "
                                f"length {len(value)} instead.", "array_below_min_length")
        most = self._max(limits)
        if most is not None and len(value) > most:
            where = f" (general_settings.{self.limit})" if self.limit else ""
            raise invalid(path, f"Invalid '{path}': array too long. Expected an array with "
                                f"maximum length {most}{where}, but got an array with length "
                                f"{len(value)} instead.", "array_above_max_length")
        if self.items is not None:
            rule = self.items
            for i, item in enumerate(value):
                rule(item, f"{path}[{i}]", limits)

    def schema(self, limits: Limits) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array"}
        if self.items is not None:
            out["items"] = self.items.schema(limits)
        if self.min_items:
            out["minItems"] = self.min_items
        most = self._max(limits)
        if most is not None:
            out["maxItems"] = most
        return out


class AnyOf(Check):
    """The first of ``options`` whose type matches decides; ``expected`` names them all."""

    def __init__(self, *options: Check, expected: str) -> None:
        self.options, self.expected = options, expected

    def check(self, value: Any, path: str, limits: Limits) -> None:
        last: ProxyError | None = None
        for option in self.options:
            try:
                option(value, path, limits)
                return
            except ProxyError as exc:
                if exc.code != "invalid_type":
                    last = last or exc  # the right type with a bad value: report that
        raise last or _wrong_type(path, self.expected, value)

    def schema(self, limits: Limits) -> dict[str, Any]:
        return {"anyOf": [o.schema(limits) for o in self.options]}


def nesting(value: Any, stop: int) -> int:
    """How deep ``value`` nests (a scalar is 0, ``{}`` is 1), counting no further than
    ``stop + 1``. Iterative, so hostile depth cannot exhaust the stack."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > stop:
                return depth
            children = item.values() if isinstance(item, dict) else item
            todo.extend((child, depth + 1) for child in children
                        if isinstance(child, (dict, list)))
    return deepest
