"""The exception types everyone shares, and the one wording of a bad value
(`key=value: expected ...`) that config/validate.py and the constructors both use."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A mistake the user can fix from the message alone: one line, exit status 2."""


class ConfigError(UserError, ValueError):
    """A config value of the wrong type or out of range; the message names the key."""


def check_int(
    key: str, value: Any, low: int, high: int | None = None, unit: str = "",
    optional: bool = False,
) -> int | None:  # fmt: skip
    """`value` when it is an integer in [low, high]; None when optional and None."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    return _bounded(key, value, "an integer", ok, low, high, None, unit, optional)


def check_number(
    key: str, value: Any, low: float | None = None, high: float | None = None,
    above: float | None = None, unit: str = "", optional: bool = False,
) -> float | None:  # fmt: skip
    """`value` when it is a number (not NaN) within the bounds; None when optional and None."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN
    return _bounded(key, value, "a number", ok, low, high, above, unit, optional)


def check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: expected true or false")
    return value


def _bounded(
    key: str, value: Any, kind: str, of_kind: bool, low: float | None, high: float | None,
    above: float | None, unit: str, optional: bool,
) -> Any:  # fmt: skip
    if optional and value is None:
        return None
    above_low = of_kind and (low is None or value >= low) and (above is None or value > above)
    if above_low and (high is None or value <= high):
        return value
    if low is not None and high is not None:
        bounds = f"in [{low:g}, {high:g}]"
    else:
        ops = ((">", above), (">=", low), ("<=", high))
        bounds = " and ".join(f"{op} {bound:g}" for op, bound in ops if bound is not None)
    unit = f" ({unit})" if unit else ""
    null = " or null" if optional else ""
    raise ConfigError(f"{key}={value!r}: expected {kind} {bounds}{unit}{null}")
