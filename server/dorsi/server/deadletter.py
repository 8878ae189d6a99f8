"""Build ``dorsi.deadletter/1`` messages (JSON bytes) for rejected messages or strides."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from dorsi.server.schema import DeadLetter, format_utc
from dorsi.server.validate import Rejected


def deadletter_message(topic: str, rejected: Rejected, *, now: datetime | None = None) -> bytes:
    """The dead letter for ``rejected`` received on ``topic`` at ``now`` (UTC, default clock)."""
    letter = DeadLetter.model_validate(
        {
            "schema": "dorsi.deadletter/1",
            "t": format_utc(now or datetime.now(UTC)),
            "topic": topic,
            "reason": rejected.reason,
            "payload_b64": base64.b64encode(rejected.payload).decode("ascii"),
        }
    )
    return letter.model_dump_json(by_alias=True).encode()
