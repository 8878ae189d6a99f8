"""Ingest counters and their Prometheus text exposition (``/metrics``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

WRITE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """What ingest did so far; durations in seconds."""

    messages_received: int = 0
    messages_acked: int = 0
    not_owned: int = 0
    """Messages of patients another partitioned worker owns (acknowledged, not processed)."""
    strides_written: int = 0
    rejected: int = 0
    """Dead letters the broker accepted (rejected messages, strides and minutes)."""
    store_refused: int = 0
    """Items (strides, minutes, readings) the store refused; each is also a dead letter."""
    deadletter_retries: int = 0
    deadletters_unsubscribed: int = 0
    """Dead letters the broker accepted with nobody subscribed (so dropped by the broker)."""
    internal_errors: int = 0
    """Unexpected exceptions in validation, commit or rollups (a bug; see the log)."""
    store_retries: int = 0
    queue_depth: int = 0
    unacked: int = 0
    """Messages received from the broker and not acknowledged yet."""
    write_count: int = 0
    write_seconds_sum: float = 0.0
    write_buckets: list[int] = field(default_factory=lambda: [0] * len(WRITE_BUCKETS_S))
    rollup_days: int = 0
    """Patient-days whose rollups were rewritten."""
    rollup_seconds: float = 0.0
    """Time spent in rollup refreshes that rewrote something."""
    rollup_store_reads: int = 0
    """Patient-days the rollup keeper read from the store (first touch, eviction, failure)."""
    rollup_cached_strides: int = 0
    rollup_pending: int = 0
    """Records and days waiting for the next rollup refresh."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe_write(self, seconds: float, strides: int) -> None:
        """Record one successful batch write that took ``seconds`` and stored ``strides``."""
        with self._lock:
            self.write_count += 1
            self.write_seconds_sum += seconds
            self.strides_written += strides
            for i, bound in enumerate(WRITE_BUCKETS_S):
                if seconds <= bound:
                    self.write_buckets[i] += 1

    def observe_rollups(
        self, seconds: float, days: int, store_reads: int, cached: int, pending: int
    ) -> None:
        """Record one rollup refresh (``days`` rewritten in ``seconds``) and the keeper's state."""
        with self._lock:
            if days:
                self.rollup_days += days
                self.rollup_seconds += seconds
            self.rollup_store_reads = store_reads
            self.rollup_cached_strides = cached
            self.rollup_pending = pending

    def render(self) -> str:
        """Prometheus text format 0.0.4."""
        with self._lock:
            lines = [
                "# HELP dorsi_messages_received_total MQTT messages received by ingest.",
                "# TYPE dorsi_messages_received_total counter",
                f"dorsi_messages_received_total {self.messages_received}",
                "# HELP dorsi_messages_acked_total MQTT messages acknowledged after writing.",
                "# TYPE dorsi_messages_acked_total counter",
                f"dorsi_messages_acked_total {self.messages_acked}",
                "# HELP dorsi_messages_not_owned_total Messages left to the partitioned worker "
                "that owns their patient.",
                "# TYPE dorsi_messages_not_owned_total counter",
                f"dorsi_messages_not_owned_total {self.not_owned}",
                "# HELP dorsi_strides_ingested_total Strides written to the store.",
                "# TYPE dorsi_strides_ingested_total counter",
                f"dorsi_strides_ingested_total {self.strides_written}",
                "# HELP dorsi_rejected_total Messages or items dead-lettered.",
                "# TYPE dorsi_rejected_total counter",
                f"dorsi_rejected_total {self.rejected}",
                "# HELP dorsi_store_refused_total Items the store refused (dead-lettered).",
                "# TYPE dorsi_store_refused_total counter",
                f"dorsi_store_refused_total {self.store_refused}",
                "# HELP dorsi_deadletter_retries_total Dead letters published again after a "
                "broker refusal.",
                "# TYPE dorsi_deadletter_retries_total counter",
                f"dorsi_deadletter_retries_total {self.deadletter_retries}",
                "# HELP dorsi_deadletters_unsubscribed_total Dead letters nobody subscribed to "
                "(dropped by the broker).",
                "# TYPE dorsi_deadletters_unsubscribed_total counter",
                f"dorsi_deadletters_unsubscribed_total {self.deadletters_unsubscribed}",
                "# HELP dorsi_internal_errors_total Unexpected exceptions in ingest (see the log).",
                "# TYPE dorsi_internal_errors_total counter",
                f"dorsi_internal_errors_total {self.internal_errors}",
                "# HELP dorsi_store_retries_total Write attempts that found the store unavailable.",
                "# TYPE dorsi_store_retries_total counter",
                f"dorsi_store_retries_total {self.store_retries}",
                "# HELP dorsi_ingest_queue_depth Messages received but not yet processed.",
                "# TYPE dorsi_ingest_queue_depth gauge",
                f"dorsi_ingest_queue_depth {self.queue_depth}",
                "# HELP dorsi_ingest_unacked_messages MQTT messages received and not yet acked.",
                "# TYPE dorsi_ingest_unacked_messages gauge",
                f"dorsi_ingest_unacked_messages {self.unacked}",
                "# HELP dorsi_rollup_days_total Patient-days whose daily rollups were rewritten.",
                "# TYPE dorsi_rollup_days_total counter",
                f"dorsi_rollup_days_total {self.rollup_days}",
                "# HELP dorsi_rollup_seconds_total Time spent rewriting daily rollups.",
                "# TYPE dorsi_rollup_seconds_total counter",
                f"dorsi_rollup_seconds_total {self.rollup_seconds}",
                "# HELP dorsi_rollup_store_reads_total Patient-days read back from the store "
                "for rollups.",
                "# TYPE dorsi_rollup_store_reads_total counter",
                f"dorsi_rollup_store_reads_total {self.rollup_store_reads}",
                "# HELP dorsi_rollup_cached_strides Strides held in memory for rollups.",
                "# TYPE dorsi_rollup_cached_strides gauge",
                f"dorsi_rollup_cached_strides {self.rollup_cached_strides}",
                "# HELP dorsi_rollup_pending Records and days waiting for the next rollup refresh.",
                "# TYPE dorsi_rollup_pending gauge",
                f"dorsi_rollup_pending {self.rollup_pending}",
                "# HELP dorsi_write_latency_seconds Duration of one batch write.",
                "# TYPE dorsi_write_latency_seconds histogram",
            ]
            lines += [
                f'dorsi_write_latency_seconds_bucket{{le="{bound}"}} {count}'
                for bound, count in zip(WRITE_BUCKETS_S, self.write_buckets, strict=True)
            ]
            lines += [
                f'dorsi_write_latency_seconds_bucket{{le="+Inf"}} {self.write_count}',
                f"dorsi_write_latency_seconds_sum {self.write_seconds_sum}",
                f"dorsi_write_latency_seconds_count {self.write_count}",
            ]
        return "\n".join(lines) + "\n"
