"""The gateway at run time: per sensor, a BLE link, a pipeline and an MQTT publisher.

Three objects with one job each, joined by asyncio tasks:

- ``SensorLink`` keeps the BLE connection and enqueues notifications;
- a consumer task feeds them to the ``SensorPipeline`` (strides → durable outbox);
- ``OutboxPublisher`` drains the outbox to the broker (QoS 1, removed on PUBACK);
- a maintenance task requests backfill for sequence gaps, gives up on lost ones, time-syncs,
  reads the battery and publishes the retained status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

from dorsi.firmware_protocol import Status
from dorsi.firmware_protocol.clock import ClockMapper
from dorsi.gateway.ble.link import ControlError, SensorInfo, SensorLink
from dorsi.gateway.config import GatewayConfig, SensorConfig
from dorsi.gateway.mqtt_link import OutboxPublisher, Will
from dorsi.gateway.outbox import Outbox, OutboxMessage
from dorsi.gateway.payloads import (
    Source,
    battery_message,
    merge_activity_messages,
    merge_stride_messages,
    status_message,
)
from dorsi.gateway.pipeline import SensorPipeline
from dorsi.gateway.rawbuffer import RawBuffer
from dorsi.gateway.topics import DeviceTopics

log = logging.getLogger(__name__)

TIME_SYNC_BURST = 8
"""Exchanges per time sync; the clock mapper keeps the tightest round trips."""
BACKFILL_RETRY_S = 3.0
"""A gap still missing this long after its backfill request is requested again."""
GAP_GIVE_UP_S = 60.0
"""A gap still missing this long while connected is given up (analysis continues around it)."""
MAINTENANCE_PERIOD_S = 0.5
STATUS_FILE = "status.json"


def algorithm_name() -> str:
    try:
        return f"dorsi-signal {version('dorsi-signal')}"
    except PackageNotFoundError:
        return "dorsi-signal"


def _merge_strides(messages: list[OutboxMessage]) -> bytes:
    return merge_stride_messages([m.payload for m in messages])


def _merge_activity(messages: list[OutboxMessage]) -> bytes:
    return merge_activity_messages([m.payload for m in messages])


class SensorSession:
    """Everything the gateway does for one sensor."""

    def __init__(
        self,
        config: GatewayConfig,
        sensor: SensorConfig,
        *,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.sensor = sensor
        self.wall_clock = wall_clock
        self.source = Source(
            config.patient, sensor.device, sensor.side, config.gateway_id, algorithm_name()
        )
        self.topics = DeviceTopics(config.patient, sensor.device)
        self.outbox = Outbox(config.outbox_path(sensor), max_bytes=config.outbox_max_bytes)
        self.clock = ClockMapper()
        self.publisher = OutboxPublisher(
            self.outbox,
            sensor.broker,
            will=Will(self.topics.status, status_message(self.source, state="offline")),
            batchers={"stride": _merge_strides, "activity": _merge_activity},
            on_connect=lambda _pub: self.publish_status(),
        )
        self.pipeline = SensorPipeline(
            source=self.source,
            outbox=self.outbox,
            clock=self.clock,
            mounting=sensor.mounting,
            on_stored=lambda _n: self.publisher.wake(),
        )
        self.link = SensorLink(
            sensor,
            scanner_backend=scanner_backend,
            client_backend=client_backend,
            wall_clock=wall_clock,
        )
        self.raw = RawBuffer(
            config.state_dir / "raw",
            sensor.device,
            hours=config.raw_buffer_hours,
            wall_clock=wall_clock,
        )
        self.battery_pct: int | None = None
        self.info: SensorInfo | None = None
        self._final_backlog = 0
        self._gap_seen: dict[tuple[int, int], float] = {}
        self._backfill_asked: dict[tuple[int, int], float] = {}
        self._next_sync = 0.0
        self._next_battery = 0.0
        self._next_status = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self.publisher.start()
        tasks = [
            asyncio.create_task(self.link.run(stop, on_connected=self._on_connected)),
            asyncio.create_task(self._consume(stop)),
            asyncio.create_task(self._maintain(stop)),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks[1:]:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(tasks[0], timeout=10)
            await asyncio.gather(*tasks[1:], return_exceptions=True)
            self._drain_queue()
            self.pipeline.flush()
            self.publish_status(state="offline")
            await asyncio.to_thread(self.publisher.stop, flush_timeout_s=5.0)
            self._final_backlog = len(self.outbox)
            self.outbox.close()
            self.raw.close()

    async def _consume(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            _, data = await self.link.packets.get()
            self.raw.append(data)
            self.pipeline.handle(data)

    def _drain_queue(self) -> None:
        while True:
            try:
                _, data = self.link.packets.get_nowait()
            except asyncio.QueueEmpty:
                return
            self.raw.append(data)
            self.pipeline.handle(data)

    async def _on_connected(self, link: SensorLink, info: SensorInfo) -> None:
        self.info = info
        self.battery_pct = info.battery_pct
        await self.time_sync()
        self._publish_battery()
        self.publish_status()
        self._backfill_asked.clear()
        await self._request_backfill()

    # -- periodic work ---------------------------------------------------------------------
    async def _maintain(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = time.monotonic()
            try:
                if self.link.connected:
                    if now >= self._next_sync:
                        await self.time_sync()
                    if now >= self._next_battery:
                        self.battery_pct = await self.link.read_battery()
                        self._publish_battery()
                        self._next_battery = now + self.config.battery_interval_s
                    await self._request_backfill()
                    self._give_up_stale_gaps(now)
                if now >= self._next_status:
                    self.publish_status()
            except (ControlError, ConnectionError, TimeoutError) as exc:
                log.debug("%s: maintenance step failed: %s", self.sensor.device, exc)
            except Exception as exc:  # keep the gateway up; the link loop reconnects
                log.warning("%s: maintenance step failed: %s", self.sensor.device, exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAINTENANCE_PERIOD_S):
                    await stop.wait()

    async def time_sync(self) -> None:
        used = 0
        for _ in range(TIME_SYNC_BURST):
            exchange = await self.link.time_sync()
            if self.clock.add_exchange(
                exchange.host_send_s, exchange.device_ticks, exchange.host_receive_s
            ):
                used += 1
        self._next_sync = time.monotonic() + self.config.time_sync_interval_s
        if used:
            self.pipeline.retry_waiting()

    async def _request_backfill(self) -> None:
        now = time.monotonic()
        tracker = self.pipeline.tracker
        for from_seq, count in tracker.missing_ranges():
            key = (from_seq, count)
            self._gap_seen.setdefault(key, now)
            asked = self._backfill_asked.get(key)
            if asked is not None and now - asked < BACKFILL_RETRY_S:
                continue
            self._backfill_asked[key] = now
            try:
                answer = await self.link.request_backfill(from_seq, min(count, 65535))
            except ControlError as exc:
                if exc.status == Status.BUSY:
                    return  # a backfill is being resent; ask again later
                raise
            if answer is None:
                lost = tracker.mark_lost(from_seq, count)
                log.warning(
                    "%s: %d packets no longer in the sensor's ring buffer", self.sensor.device, lost
                )
            elif answer.first_sequence != from_seq:
                skipped = (answer.first_sequence - from_seq) % 65536
                tracker.mark_lost(from_seq, min(skipped, count))
            self.pipeline.release_lost()
        live = set(tracker.missing_ranges())
        self._gap_seen = {k: v for k, v in self._gap_seen.items() if k in live}
        self._backfill_asked = {k: v for k, v in self._backfill_asked.items() if k in live}

    def _give_up_stale_gaps(self, now: float) -> None:
        for (from_seq, count), seen in list(self._gap_seen.items()):
            if now - seen > GAP_GIVE_UP_S:
                self.pipeline.tracker.mark_lost(from_seq, count)
                del self._gap_seen[(from_seq, count)]
                log.warning(
                    "%s: gap of %d packets not filled in %.0f s; analysing around it",
                    self.sensor.device,
                    count,
                    GAP_GIVE_UP_S,
                )
        self.pipeline.release_lost()

    # -- publishing ------------------------------------------------------------------------
    def _publish_battery(self) -> None:
        if self.battery_pct is None:
            return
        self.outbox.put(
            self.topics.battery,
            battery_message(self.source, t=self.wall_clock(), battery_pct=self.battery_pct),
            kind="battery",
            priority=0,
        )
        self.publisher.wake()

    def publish_status(self, state: str = "online") -> None:
        """Retained status: online/offline, link, battery, firmware, last stride, backlog."""
        self._next_status = time.monotonic() + self.config.status_interval_s
        info = self.info
        payload = status_message(
            self.source,
            state="offline" if state == "offline" else "online",
            t=self.wall_clock(),
            link="connected"
            if self.link.connected
            else ("searching" if self.link.stats.state == "searching" else "disconnected"),
            battery_pct=self.battery_pct,
            firmware=(
                ".".join(map(str, info.status.firmware_version)) if info is not None else None
            ),
            last_stride_t=self.pipeline.stats.last_stride_utc_s,
            outbox_backlog=len(self.outbox),
        )
        if self.publisher.connected:
            self.publisher.publish_now(self.topics.status, payload, qos=1, retain=True)

    def snapshot(self) -> dict[str, Any]:
        """State for `dorsi-gateway status`."""
        return {
            "device": self.sensor.device,
            "side": self.sensor.side,
            "link": self.link.stats.state,
            "link_stats": asdict(self.link.stats),
            "queue_depth": self.link.packets.qsize(),
            "outbox_backlog": self._final_backlog if self.outbox.closed else len(self.outbox),
            "outbox_evicted": None if self.outbox.closed else self.outbox.evicted,
            "broker_connected": self.publisher.connected,
            "battery_pct": self.battery_pct,
            "clock_synced": self.clock.synced,
            "pipeline": {k: v for k, v in asdict(self.pipeline.stats).items()},
        }


class Gateway:
    """All sensors of one patient's home gateway."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``wall_clock`` (UTC s) is injectable for time-lapse tests; backends for bleak."""
        self.config = config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.sessions = [
            SensorSession(
                config,
                sensor,
                scanner_backend=scanner_backend,
                client_backend=client_backend,
                wall_clock=wall_clock,
            )
            for sensor in config.sensors
        ]

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then flush and close everything."""
        writer = asyncio.create_task(self._write_status(stop))
        try:
            await asyncio.gather(*(s.run(stop) for s in self.sessions))
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self.write_status(running=False)

    def write_status(self, *, running: bool = True) -> Path:
        path = self.config.state_dir / STATUS_FILE
        state = {
            "running": running,
            "gateway_id": self.config.gateway_id,
            "patient": self.config.patient,
            "pid": os.getpid(),
            "updated_utc_s": time.time(),
            "sensors": [s.snapshot() for s in self.sessions],
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, default=str))
        tmp.replace(path)
        return path

    async def _write_status(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.write_status()
            except OSError as exc:
                log.warning("cannot write the status file: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await stop.wait()
