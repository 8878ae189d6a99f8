"""InfluxDB line protocol encoding (v1 `/write`), with the escaping rules real influxd applies.

- measurement: escape ``,`` and space;
- tag keys, tag values, field keys: escape ``,``, ``=`` and space; a newline or a trailing
  backslash cannot be represented in a tag and raises ``ValueError``;
- string field values: double-quoted, ``"`` and ``\\`` escaped (a newline is kept as is);
- floats as shortest round-trip decimal, integers with the ``i`` suffix (signed 64-bit: a
  larger one raises ``ValueError``, influxd would refuse the whole request), booleans as
  ``true``/``false``; ``None`` fields are left out; timestamps are integers in the write's
  precision.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

FieldValue = float | int | bool | str | None
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})


def escape_measurement(name: str) -> str:
    """Escape a measurement name."""
    if not name or "\n" in name:
        raise ValueError(f"measurement name {name!r} must be non-empty without newlines")
    return name.translate(_MEASUREMENT)


@functools.lru_cache(maxsize=65536)
def escape_key(text: str, what: str = "tag") -> str:
    """Escape a tag key, tag value or field key; ValueError if line protocol cannot carry it.

    Cached: keys and tag values repeat on every point.
    """
    if not text:
        raise ValueError(f"{what} {text!r} must not be empty")
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} {text!r} contains a newline, which line protocol cannot carry")
    if text.endswith("\\"):
        raise ValueError(f"{what} {text!r} ends with a backslash, which line protocol cannot carry")
    return text.translate(_KEY)


def format_int(value: int) -> str:
    """An integer field value (``7i``); ValueError outside the signed 64-bit range."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"integer field value {value} is outside the signed 64-bit range")
    return f"{value}i"


def format_field(value: float | int | bool | str) -> str:
    """One field value in line protocol syntax; ValueError for NaN/Infinity or beyond int64."""
    if type(value) is float and math.isfinite(value):  # the common case first
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return format_int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"field value {value!r} is not finite")
        return repr(value)
    return '"' + value.translate(_STRING) + '"'


def encode_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue],
    timestamp: int,
) -> str:
    """One line (no newline); tags sorted by key as influxd prefers; ``None`` fields dropped."""
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        parts.append(f"{escape_key(key, 'tag key')}={escape_key(tags[key], 'tag value')}")
    head = ",".join(parts)
    body = ",".join(
        [
            f"{escape_key(key, 'field key')}={format_field(value)}"
            for key, value in fields.items()
            if value is not None
        ]
    )
    if not body:
        raise ValueError(f"point of {measurement!r} at {timestamp} has no fields")
    return f"{head} {body} {timestamp}"
