"""Partitioned ingest: N workers each subscribe to everything and keep the patients they own.

The alternative to MQTT 5 shared subscriptions (``$share/…``) for brokers that lose messages with
them. Mosquitto 2.0.11 (Debian 12) does not restore a persistent session's *shared*
subscriptions after a restart until that worker reconnects and subscribes again; messages
published in between are accepted (PUBACK) and dropped. Plain subscriptions are restored, so
with ``subscription = "partitioned"`` every worker subscribes plainly, processes the messages of
the patients it owns (a stable hash of ``<patient>``) and acknowledges the others at once. Each
patient, with all their devices, is owned by exactly one worker: one device's messages are
written in order, and that worker alone keeps the patient's daily rollups
(:mod:`dorsi.server.rollups` holds them in memory). Cost: the broker sends every message to
every worker (N× fan-out; fine for N ≤ 4).
"""

from __future__ import annotations

import zlib

__all__ = ["Partition", "owner_of", "owner_of_patient"]


def owner_of(topic: str, count: int) -> int:
    """Index (0 … count−1) of the worker that owns this ``dorsi/v1/<patient>/…`` topic."""
    if count < 1:
        raise ValueError(f"worker count must be ≥ 1, got {count}")
    parts = topic.split("/")
    return owner_of_patient(parts[2] if len(parts) >= 4 else topic, count)


def owner_of_patient(patient: str, count: int) -> int:
    """Index (0 … count−1) of the worker that owns ``patient``'s messages and rollups."""
    if count < 1:
        raise ValueError(f"worker count must be ≥ 1, got {count}")
    return zlib.crc32(patient.encode("utf-8")) % count


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

    def owns_patient(self, patient: str) -> bool:
        """True when this worker processes ``patient``'s messages (and keeps their rollups)."""
        return self.count == 1 or owner_of_patient(patient, self.count) == self.index
