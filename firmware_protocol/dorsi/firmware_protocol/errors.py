"""The codec's errors (one type for every malformed input) and the input checks that raise them."""

from __future__ import annotations

import enum
from typing import TypeVar

from .constants import Status

E = TypeVar("E", bound=enum.IntEnum)


class ProtocolError(ValueError):
    """Malformed or unsupported protocol bytes or field values.

    The only exception any ``decode_*`` function raises, whatever it is given. When decoding
    a control request, ``status`` is the status the device answers with, and ``opcode`` /
    ``request_id`` are the raw bytes to echo (``None`` when the write was too short to hold them).
    """

    def __init__(
        self,
        message: str,
        *,
        status: Status = Status.INVALID_PARAMETER,
        opcode: int | None = None,
        request_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.opcode = opcode
        self.request_id = request_id


class ClockNotSyncedError(RuntimeError):
    """Device ticks cannot be mapped to UTC: no accepted TIME_SYNC exchange in this boot epoch."""


def as_bytes(data: object, what: str) -> bytes:
    """Return ``data`` as ``bytes``; bytes, bytearray and memoryview are accepted.

    Raises:
        ProtocolError: for any other type (status INVALID_LENGTH).
    """
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise ProtocolError(
        f"{what}: expected bytes, bytearray or memoryview, got {type(data).__name__}",
        status=Status.INVALID_LENGTH,
    )


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Return ``value`` if it is an int (not bool) in ``[low, high]``, else raise ProtocolError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ProtocolError(f"{name} {value} out of range [{low}, {high}]")
    return value


def to_enum(enum_type: type[E], value: object, name: str) -> E:
    """Return ``value`` as an ``enum_type`` member, else raise ProtocolError listing valid codes."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return enum_type(value)
        except ValueError:
            pass
    valid = ", ".join(f"{m.value} ({m.name})" for m in enum_type)
    raise ProtocolError(f"invalid {name} {value!r} (valid: {valid})")
