"""Build ``dorsi.deadletter/1`` messages (JSON bytes) for rejected messages or strides.

A dead letter carries the rejected bytes base64-encoded, cut to the first
:data:`~dorsi.server.schema.MAX_PAYLOAD_BYTES` (a message above the size limit is rejected for
that, and its dead letter must stay publishable); ``payload_bytes`` is the original length.
Building one never raises: text that cannot be UTF-8 (lone surrogates) is escaped.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from dorsi.server.schema import MAX_PAYLOAD_BYTES, DeadLetter, format_utc
from dorsi.server.validate import Rejected


def _utf8(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (a lone surrogate) as a ``\\udxxx`` escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def deadletter_message(topic: str, rejected: Rejected, *, now: datetime | None = None) -> bytes:
    """The dead letter for ``rejected`` received on ``topic`` at ``now`` (UTC, default clock)."""
    payload = rejected.payload
    letter = DeadLetter.model_validate(
        {
            "schema": "dorsi.deadletter/1",
            "t": format_utc(now or datetime.now(UTC)),
            "topic": _utf8(topic),
            "reason": _utf8(rejected.reason),
            "payload_b64": base64.b64encode(payload[:MAX_PAYLOAD_BYTES]).decode("ascii"),
            "payload_bytes": len(payload),
            "payload_truncated": len(payload) > MAX_PAYLOAD_BYTES,
        }
    )
    return letter.model_dump_json(by_alias=True).encode()
