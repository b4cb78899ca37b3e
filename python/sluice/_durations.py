"""Argument conversion: durations (float seconds) to integer nanoseconds, and
keyword arguments to a limiter spec in budget-file (TOML) syntax, so that
Segment.define() validates exactly like a budget file does."""

import datetime
import decimal
import math

from ._errors import InvalidArgument

_NS_PER_S = 1_000_000_000
_INT64_MAX = (1 << 63) - 1


def duration_ns(value, what: str) -> int:
    """Seconds (int, float, timedelta) to whole nanoseconds.

    A float counts by its shortest decimal form: 0.8 is exactly 800000000 ns.
    Rejects bools, NaN, infinities, negatives and fractions of a nanosecond.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal, datetime.timedelta)):
        raise InvalidArgument(
            f"{what} must be a number of seconds (got {type(value).__name__} {value!r})",
            "InvalidArgument")
    if isinstance(value, datetime.timedelta):
        ns = ((value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds) * 1000
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgument(f"{what} must be a finite number of seconds (got {value!r})",
                                  "InvalidArgument")
        d = decimal.Decimal(repr(value) if isinstance(value, float) else value) * _NS_PER_S
        if d != d.to_integral_value():
            raise InvalidArgument(
                f"{what} must be a whole number of nanoseconds (got {value!r} s)", "InvalidArgument")
        ns = int(d)
    if ns < 0:
        raise InvalidArgument(f"{what} must not be negative (got {value!r})", "InvalidArgument")
    if ns > _INT64_MAX:
        raise InvalidArgument(f"{what} is too large (got {value!r} s)", "InvalidArgument")
    return ns


def timeout_ns(timeout) -> int:
    """A blocking call's timeout in nanoseconds, -1 meaning forever.

    None and math.inf wait forever; so does any finite timeout too long to
    count in int64 nanoseconds (over 292 years: 1e300 is forever, never an
    OverflowError). Otherwise seconds, rounded to the nearest nanosecond.
    Negative or NaN raises InvalidArgument (a ValueError).
    """
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, datetime.timedelta)):
        raise InvalidArgument(
            f"timeout must be None or a number of seconds (got {type(timeout).__name__} {timeout!r})",
            "InvalidArgument")
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if math.isnan(timeout):
        raise InvalidArgument("timeout must be a number of seconds, not NaN", "InvalidArgument")
    if timeout < 0:
        raise InvalidArgument(f"timeout must not be negative (got {timeout!r})", "InvalidArgument")
    if isinstance(timeout, int):
        return -1 if timeout > _INT64_MAX // _NS_PER_S else timeout * _NS_PER_S
    ns = timeout * _NS_PER_S  # a float: inf for 1e300 and for math.inf
    if ns >= _INT64_MAX:
        return -1
    return round(ns)


_DURATION_KEYS = ("period", "window", "ttl")


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(key: str, value) -> str:
    if isinstance(value, str):
        return _toml_string(value)
    if key in _DURATION_KEYS:
        return _toml_string(f"{duration_ns(value, key)}ns")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
            raise InvalidArgument(f"{key} is too large (got {value})", "InvalidArgument")
        return str(value)
    if isinstance(value, float):
        # The budget file's message for a non-integer ("rate must be an integer").
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else
                                                         ("inf" if value > 0 else "-inf"))
    raise InvalidArgument(f"{key} has an unsupported type {type(value).__name__}", "InvalidArgument")


def spec_toml(algorithm, params: dict) -> str:
    """Builds the limiter's budget-file table from keyword arguments; keys
    whose value is None are left out. Durations may also be given as
    budget-file strings ("800ms")."""
    lines = [f"algorithm = {_toml_value('algorithm', algorithm)}"]
    for key, value in params.items():
        if value is not None:
            lines.append(f"{key} = {_toml_value(key, value)}")
    return "\n".join(lines) + "\n"
