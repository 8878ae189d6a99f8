"""One sensor's packets → strides in the durable outbox.

decode (bad packets counted and skipped) → sequence tracking (u16 unwrap, gaps, duplicates) →
in-order release behind backfillable gaps → streaming analysis in device time (s since boot) →
device tick → UTC with the time-sync clock mapper → schema-v1 stride message → outbox.

Everything here is synchronous and single-threaded (the asyncio consumer task calls it); the BLE
link and the MQTT link are separate objects.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dorsi.firmware_protocol import (
    TICK_HZ,
    ClockNotSyncedError,
    ImuPacket,
    PacketFlag,
    ProtocolError,
    decode_packet,
)
from dorsi.firmware_protocol.clock import ClockMapper
from dorsi.firmware_protocol.stream import Arrival, SequenceTracker
from dorsi.gateway.activity import ActivityAccumulator, MinuteSummary
from dorsi.gateway.outbox import Outbox
from dorsi.gateway.payloads import Source, activity_message, stride_fields, strides_message
from dorsi.gateway.reorder import Gap, Released, ReorderBuffer
from dorsi.gateway.topics import DeviceTopics
from dorsi.signal import (
    AlignmentError,
    MountingEstimate,
    SignalError,
    StrideMetrics,
    apply_mounting,
    estimate_mounting,
)
from dorsi.signal.streaming import StreamingAnalyzer

log = logging.getLogger(__name__)

MOUNTING_BUFFER_S = 300.0
"""Samples kept while the mounting rotation is still unknown (then analysed from the start)."""
MOUNTING_RETRY_S = 15.0
"""How often the mounting estimate is retried while data accumulate, s of data."""
STRIDE_PRIORITY = 2
"""Outbox priority of strides (evicted last)."""
ACTIVITY_PRIORITY = 0
"""Outbox priority of activity minutes (evicted first when the disk bound is reached)."""
RESUME_CONTEXT_S = 12.0
"""After a gateway restart, analysis resumes this long before the last stored stride's end
(the streaming analyzer's history), from the sensor's ring buffer."""
CHECKPOINT_KEY = "resume"


@dataclass
class PipelineStats:
    packets: int = 0
    malformed: int = 0
    duplicates: int = 0
    samples: int = 0
    gaps: int = 0
    lost_packets: int = 0
    strides: int = 0
    strides_waiting_for_clock: int = 0
    reboots: int = 0
    analysis_errors: int = 0
    activity_minutes: int = 0
    last_stride_utc_s: float | None = None
    malformed_examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _PendingStride:
    stride: StrideMetrics
    epoch: int


class SensorPipeline:
    """Turns one sensor's notifications into strides stored in the outbox.

    Args:
        source: patient, device, side, gateway and algorithm names for the payloads.
        outbox: where finished strides go (durably) before they are published.
        clock: the sensor's device tick → UTC mapper (fed by the link's time syncs).
        mounting: ``"auto"`` to estimate the sensor → body rotation from the data, ``"body"``
            when the sensor axes already are the body-aligned frame, or a known estimate.
        on_stored: called after strides were put in the outbox (e.g. to wake the publisher).
    """

    def __init__(
        self,
        *,
        source: Source,
        outbox: Outbox,
        clock: ClockMapper,
        mounting: str | MountingEstimate = "auto",
        horizon_packets: int = 8192,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.source = source
        topics = DeviceTopics(source.patient, source.device)
        self.topic = topics.strides
        self.activity_topic = topics.activity
        self.activity: ActivityAccumulator | None = None
        self.outbox = outbox
        self.clock = clock
        self.stats = PipelineStats()
        self.tracker = SequenceTracker(horizon_packets=horizon_packets)
        self.reorder: ReorderBuffer[ImuPacket] = ReorderBuffer(max_held=horizon_packets)
        self.on_stored = on_stored
        self._mounting_mode = mounting
        self._mounting: MountingEstimate | None = (
            mounting if isinstance(mounting, MountingEstimate) else None
        )
        self._analyzer: StreamingAnalyzer | None = None
        self._rate_hz: int | None = None
        self._epoch = clock.epoch
        self._unaligned: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._unaligned_s = 0.0
        self._next_mounting_try_s = MOUNTING_RETRY_S
        self._waiting: list[_PendingStride] = []
        self._released: deque[tuple[int, int]] = deque(maxlen=4096)  # (sequence, t0_ticks)
        self._max_ticks = 0
        self._min_ic_ticks = -1.0
        self.resumed_from: int | None = None
        self._resume_checked = False

    # -- restart -----------------------------------------------------------------------------
    def resume(self, uptime_ticks: int) -> bool:
        """After a gateway restart: continue where the stored checkpoint says, if the sensor has
        not rebooted since (``uptime_ticks``: a current device tick). Returns True if resuming.

        Called by :meth:`handle` for the first live packet; call it earlier only before any
        packet was handled.

        Missing packets from the checkpoint on are then requested from the sensor's ring
        buffer like any gap; strides already stored are not stored again.
        """
        raw = self.outbox.get_meta(CHECKPOINT_KEY)
        if raw is None:
            return False
        try:
            checkpoint = json.loads(raw)
            resume_sequence = int(checkpoint["resume_sequence"])
            max_ticks = int(checkpoint["max_ticks"])
            last_ic_ticks = float(checkpoint["last_ic_ticks"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: ignoring an unreadable checkpoint: %s", self.source.device, exc)
            return False
        if uptime_ticks < max_ticks:
            log.warning(
                "%s: the sensor rebooted while the gateway was down; data it had not sent are lost",
                self.source.device,
            )
            return False
        fed = self.tracker.feed((resume_sequence - 1) % 65536)
        self._resume_checked = True
        self.reorder.start_at(fed.index + 1)
        self._min_ic_ticks = last_ic_ticks + 0.3 * TICK_HZ
        self._max_ticks = max_ticks
        self.resumed_from = resume_sequence
        log.info("%s: resuming from sequence %d", self.source.device, resume_sequence)
        return True

    def _checkpoint(self, last_ic_ticks: float, last_next_ic_ticks: float) -> str:
        target = last_next_ic_ticks - RESUME_CONTEXT_S * TICK_HZ
        sequence = next(
            (seq for seq, t0 in reversed(self._released) if t0 <= target),
            self._released[0][0] if self._released else 0,
        )
        return json.dumps(
            {
                "resume_sequence": sequence,
                "max_ticks": self._max_ticks,
                "last_ic_ticks": last_ic_ticks,
            }
        )

    # -- packets ---------------------------------------------------------------------------
    def handle(self, data: bytes) -> int:
        """Process one notification; returns the number of strides stored."""
        self.stats.packets += 1
        try:
            packet = decode_packet(data)
        except ProtocolError as exc:
            self.stats.malformed += 1
            if len(self.stats.malformed_examples) < 10:
                self.stats.malformed_examples.append(f"{exc} ({bytes(data[:24]).hex()}…)")
            if self.stats.malformed in (1, 10, 100) or self.stats.malformed % 1000 == 0:
                log.warning(
                    "%s: skipped malformed packet #%d: %s",
                    self.source.device,
                    self.stats.malformed,
                    exc,
                )
            return 0
        header = packet.header
        stored = 0
        backfill = bool(header.flags & PacketFlag.BACKFILL)
        if not self._resume_checked and not backfill:
            # The first live packet after a gateway (re)start: continue from the checkpoint if
            # the sensor is still in the same boot (its ticks did not go back).
            self._resume_checked = True
            self.resume(header.t0_ticks)
        if not backfill and header.flags & PacketFlag.STREAM_START:
            # A sensor reboot always shows here: streaming restarts with ticks and sequences
            # from zero (SPEC.md). The clock may already have seen it in a time sync.
            went_back = self.clock.observe_ticks(header.t0_ticks)
            restarted = header.sequence == 0 and (self.tracker.highest_index or 0) > 0
            if went_back or restarted or self.clock.epoch != self._epoch:
                if self.clock.epoch == self._epoch:
                    self.clock.new_epoch()
                stored += self._rebooted()
        fed = self.tracker.feed(header.sequence)
        if fed.arrival in (Arrival.DUPLICATE, Arrival.STALE):
            self.stats.duplicates += 1
            return stored
        for item in self.reorder.push(fed.index, packet):
            stored += self._release(item)
        return stored

    def give_up_gap(self) -> int:
        """The gap the reorder buffer waits on will not be filled: analyse around it."""
        gap = self.reorder.missing_before_held()
        if gap is not None:
            self.tracker.mark_lost(gap.first_index % 65536, gap.count)
        stored = 0
        for item in self.reorder.give_up():
            stored += self._release(item)
        return stored

    def release_lost(self) -> int:
        """Release packets held behind a gap that the tracker now knows is lost, in part or all.

        Call after ``tracker.mark_lost`` (e.g. the sensor answered BACKFILL_UNAVAILABLE or its
        ring buffer starts later than asked).
        """
        gap = self.reorder.missing_before_held()
        if gap is None:
            return 0
        awaited = [
            (start, stop)
            for start, stop in self.tracker.missing_indices()
            if stop > gap.first_index and start < gap.stop_index
        ]
        if awaited and awaited[0][0] <= gap.first_index:
            return 0  # the front of the gap may still come
        until = awaited[0][0] if awaited else gap.stop_index
        stored = 0
        for item in self.reorder.give_up_until(until):
            stored += self._release(item)
        return stored

    def _release(self, item: Released[ImuPacket] | Gap) -> int:
        if isinstance(item, Gap):
            self.stats.gaps += 1
            self.stats.lost_packets += item.count
            log.warning(
                "%s: %d packets lost for good (not in the sensor's ring buffer)",
                self.source.device,
                item.count,
            )
            return 0
        packet = item.item
        self._released.append((packet.header.sequence, packet.header.t0_ticks))
        self._max_ticks = max(self._max_ticks, packet.header.t0_ticks)
        if self._rate_hz != packet.header.sample_rate.hz:
            stored = self._finish_run()
            self._rate_hz = packet.header.sample_rate.hz
            self._analyzer = None
        else:
            stored = 0
        t_s = np.asarray(packet.sample_ticks(), dtype=np.float64) / TICK_HZ
        acc = np.asarray(packet.acc_mps2(), dtype=np.float64)
        gyr = np.asarray(packet.gyr_dps(), dtype=np.float64)
        self.stats.samples += t_s.shape[0]
        return stored + self._analyse(t_s, acc, gyr)

    # -- analysis --------------------------------------------------------------------------
    def _analyse(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> int:
        assert self._rate_hz is not None
        if self._analyzer is None and self._mounting is None and self._mounting_mode == "auto":
            return self._collect_for_mounting(t_s, acc, gyr)
        try:
            if self._analyzer is None:  # the rate may be one the protocol has but analysis not
                self._analyzer = StreamingAnalyzer(
                    sampling_rate_hz=self._rate_hz, mounting=self._mounting
                )
            strides = self._analyzer.push(t_s, acc, gyr)
        except SignalError as exc:
            self.stats.analysis_errors += 1
            log.warning("%s: analysis skipped a chunk: %s", self.source.device, exc)
            return 0
        stored = self._store([_PendingStride(s, self._epoch) for s in strides])
        self._track_activity(t_s, acc, gyr)
        return stored

    def _track_activity(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        """Feed body-frame samples with UTC times to the per-minute wear/walking summary."""
        assert self._rate_hz is not None
        if self.activity is None or self.activity.fs != self._rate_hz:
            self._flush_activity()
            self.activity = ActivityAccumulator(sampling_rate_hz=self._rate_hz)
        try:
            first = self.clock.to_utc_s(t_s[0] * TICK_HZ, epoch=self._epoch)
            last = self.clock.to_utc_s(t_s[-1] * TICK_HZ, epoch=self._epoch)
        except ClockNotSyncedError:
            return  # approximate by nature: minutes without a clock are left out
        utc = np.linspace(first, last, t_s.shape[0]) if t_s.shape[0] > 1 else np.array([first])
        if self._mounting is not None:
            acc = apply_mounting(acc, self._mounting)
            gyr = apply_mounting(gyr, self._mounting)
        self.activity.add_samples(utc, acc, gyr)
        self._store_minutes(self.activity.completed())

    def _flush_activity(self) -> None:
        if self.activity is not None:
            self._store_minutes(self.activity.completed(final=True))

    def _store_minutes(self, minutes: list[MinuteSummary]) -> None:
        for minute in minutes:
            self.outbox.put(
                self.activity_topic,
                activity_message(self.source, [minute.as_payload()]),
                kind="activity",
                priority=ACTIVITY_PRIORITY,
            )
            self.stats.activity_minutes += 1

    def _collect_for_mounting(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> int:
        assert self._rate_hz is not None
        self._unaligned.append((t_s, acc, gyr))
        self._unaligned_s += t_s.shape[0] / self._rate_hz
        while self._unaligned_s > MOUNTING_BUFFER_S and len(self._unaligned) > 1:
            dropped = self._unaligned.pop(0)
            self._unaligned_s -= dropped[0].shape[0] / self._rate_hz
        if self._unaligned_s < self._next_mounting_try_s:
            return 0
        self._next_mounting_try_s = self._unaligned_s + MOUNTING_RETRY_S
        acc_all = np.vstack([c[1] for c in self._unaligned])
        gyr_all = np.vstack([c[2] for c in self._unaligned])
        try:
            self._mounting = estimate_mounting(acc_all, gyr_all, sampling_rate_hz=self._rate_hz)
        except (AlignmentError, SignalError) as exc:
            log.debug("%s: mounting not yet estimable: %s", self.source.device, exc)
            if self._unaligned_s >= MOUNTING_BUFFER_S:
                self._next_mounting_try_s = MOUNTING_BUFFER_S  # retry on every new chunk
            return 0
        log.info("%s: mounting estimated: %s", self.source.device, self._mounting)
        self._analyzer = StreamingAnalyzer(sampling_rate_hz=self._rate_hz, mounting=self._mounting)
        chunks, self._unaligned, self._unaligned_s = self._unaligned, [], 0.0
        stored = 0
        for t, a, g in chunks:
            stored += self._analyse(t, a, g)
        return stored

    def _finish_run(self) -> int:
        if self._analyzer is None:
            return 0
        try:
            strides = self._analyzer.flush()
        except SignalError as exc:
            self.stats.analysis_errors += 1
            log.warning("%s: could not finish the run: %s", self.source.device, exc)
            return 0
        return self._store([_PendingStride(s, self._epoch) for s in strides])

    def _rebooted(self) -> int:
        """The sensor restarted (ticks and sequences from zero): close the old boot's run."""
        self.stats.reboots += 1
        log.warning("%s: sensor rebooted; starting a new clock epoch", self.source.device)
        stored = self._finish_run()
        self._analyzer = None
        self.tracker.reset()
        self.reorder.reset()
        self._released.clear()
        self._max_ticks = 0
        self._min_ic_ticks = -1.0
        self._epoch = self.clock.epoch
        return stored

    def flush(self) -> int:
        """End of session (shutdown): analyse what is buffered and store it."""
        stored = self._finish_run() + self.retry_waiting()
        self._flush_activity()
        return stored

    # -- storing ---------------------------------------------------------------------------
    def retry_waiting(self) -> int:
        """Store strides that waited for a time sync (call after each accepted exchange)."""
        waiting, self._waiting = self._waiting, []
        self.stats.strides_waiting_for_clock = 0
        return self._store(waiting)

    def _store(self, pending: list[_PendingStride]) -> int:
        stored = 0
        ready: list[tuple[_PendingStride, dict[str, object], float]] = []
        for item in pending:
            s = item.stride
            if s.ic_t * TICK_HZ <= self._min_ic_ticks:
                continue  # stored before a gateway restart
            try:
                ic = self.clock.to_utc_s(s.ic_t * TICK_HZ, epoch=item.epoch)
                to = self.clock.to_utc_s(s.to_t * TICK_HZ, epoch=item.epoch)
                next_ic = self.clock.to_utc_s(s.next_ic_t * TICK_HZ, epoch=item.epoch)
            except ClockNotSyncedError:
                self._waiting.append(item)
                self.stats.strides_waiting_for_clock = len(self._waiting)
                continue
            try:
                fields = stride_fields(s.to_record(), ic_t=ic, to_t=to, next_ic_t=next_ic)
            except ValueError as exc:
                self.stats.analysis_errors += 1
                log.warning(
                    "%s: stride at %.3f s not publishable: %s", self.source.device, s.ic_t, exc
                )
                continue
            ready.append((item, fields, ic))
        for n, (item, fields, ic) in enumerate(ready):
            meta = None
            if n == len(ready) - 1 and item.epoch == self.clock.epoch:
                s = item.stride
                meta = {CHECKPOINT_KEY: self._checkpoint(s.ic_t * TICK_HZ, s.next_ic_t * TICK_HZ)}
            self.outbox.put(
                self.topic,
                strides_message(self.source, [fields]),
                kind="stride",
                priority=STRIDE_PRIORITY,
                meta=meta,
            )
            stored += 1
            self.stats.strides += 1
            self.stats.last_stride_utc_s = ic
            if self.activity is not None:
                self.activity.add_stride(ic, ic + item.stride.stride_time_s)
        if stored and self.on_stored is not None:
            self.on_stored(stored)
        return stored
