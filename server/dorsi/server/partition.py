"""Partitioned ingest: N workers each subscribe to everything and keep the devices they own.

The alternative to MQTT 5 shared subscriptions (``$share/…``) for brokers that lose messages with
them. Mosquitto 2.0.11 (Debian 12) does not restore a persistent session's *shared*
subscriptions after a restart until that worker reconnects and subscribes again; messages
published in between are accepted (PUBACK) and dropped. Plain subscriptions are restored, so
with ``subscription = "partitioned"`` every worker subscribes plainly, processes the messages of
the devices it owns (a stable hash of ``<patient>/<device>``) and acknowledges the others at
once. Each device is owned by exactly one worker, so one device's messages are also written in
order. Cost: the broker sends every message to every worker (N× fan-out; fine for N ≤ 4).
"""

from __future__ import annotations

import zlib

__all__ = ["Partition", "owner_of"]


def owner_of(topic: str, count: int) -> int:
    """Index (0 … count−1) of the worker that owns this ``dorsi/v1/<patient>/<device>/…`` topic."""
    if count < 1:
        raise ValueError(f"worker count must be ≥ 1, got {count}")
    parts = topic.split("/")
    key = "/".join(parts[2:4]) if len(parts) >= 4 else topic
    return zlib.crc32(key.encode("utf-8")) % count


class Partition:
    """Worker ``index`` of ``count``: which topics it processes."""

    def __init__(self, index: int = 0, count: int = 1) -> None:
        if count < 1 or not 0 <= index < count:
            raise ValueError(
                f"worker index must be in 0…{count - 1} for {count} workers, got {index}"
            )
        self.index = index
        self.count = count

    def owns(self, topic: str) -> bool:
        """True when this worker processes messages on ``topic``."""
        return self.count == 1 or owner_of(topic, self.count) == self.index
