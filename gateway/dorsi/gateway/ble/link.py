"""One brace sensor over BLE with bleak: find, connect, configure, stream — and reconnect forever.

The notification callback only enqueues ``(monotonic_s, bytes)``; decoding and analysis run in a
consumer task (see :mod:`dorsi.gateway.pipeline`). The bleak backend is injectable (``backend=`` of
``BleakScanner``/``BleakClient``) so tests run this exact code against an emulated sensor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from dorsi.firmware_protocol import (
    BATTERY_LEVEL_CHAR_UUID,
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    FIRMWARE_REVISION_CHAR_UUID,
    HARDWARE_REVISION_CHAR_UUID,
    MANUFACTURER_NAME_CHAR_UUID,
    MODEL_NUMBER_CHAR_UUID,
    PROTOCOL_VERSION,
    SERIAL_NUMBER_CHAR_UUID,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
    AccRange,
    BackfillPayload,
    ControlRequest,
    ControlResponse,
    DeviceStatus,
    GyroRange,
    ProtocolError,
    SampleRate,
    Status,
    TimeSyncPayload,
    decode_response,
    decode_status,
    encode_request,
)
from dorsi.firmware_protocol.clock import SyncExchange
from dorsi.gateway.ble import retry
from dorsi.gateway.config import SensorConfig

log = logging.getLogger(__name__)

DEFAULT_ACC_RANGE = AccRange.G16
"""±16 g: heel strike and foot-slap impacts reach 10+ g at the foot."""
DEFAULT_GYRO_RANGE = GyroRange.DPS2000
"""±2000 deg/s: push-off and swing reach 500–800 deg/s at the foot, faster in stumbles."""


class SensorLinkError(Exception):
    """Base class of the link's typed errors."""


class SensorNotFoundError(SensorLinkError):
    """No matching dorsi sensor advertised within the scan window."""


class IncompatibleSensorError(SensorLinkError):
    """The sensor speaks another protocol version; update the gateway or the firmware."""


class ControlError(SensorLinkError):
    """A control-point request was refused or not answered in time."""

    def __init__(self, message: str, status: Status | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SensorInfo:
    """What the gateway learned about the sensor when it connected."""

    address: str
    name: str | None
    status: DeviceStatus
    battery_pct: int | None
    mtu: int
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware_revision: str | None = None
    hardware_revision: str | None = None


@dataclass
class LinkStats:
    """Counters for logs and `dorsi-gateway status`."""

    connects: int = 0
    disconnects: int = 0
    failed_attempts: int = 0
    notifications: int = 0
    queue_overflows: int = 0
    last_notification_monotonic_s: float | None = None
    last_error: str | None = None
    state: str = "idle"
    errors: list[str] = field(default_factory=list)


OnConnected = Callable[["SensorLink", SensorInfo], Awaitable[None]]


class SensorLink:
    """The BLE link to one dorsi sensor.

    Args:
        sensor: which sensor (side, advertised name or address, sample rate).
        scanner_backend, client_backend: bleak backend classes (``None``: the platform's).
        queue_maxsize: bound of the packet queue between the callback and the consumer.
        wall_clock: UTC seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        sensor: SensorConfig,
        *,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        queue_maxsize: int = 20_000,
        acc_range: AccRange = DEFAULT_ACC_RANGE,
        gyro_range: GyroRange = DEFAULT_GYRO_RANGE,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.sensor = sensor
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.acc_range = acc_range
        self.gyro_range = gyro_range
        self.wall_clock = wall_clock
        self.rng = rng or random.Random()
        self.packets: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=queue_maxsize)
        self.stats = LinkStats()
        self.info: SensorInfo | None = None
        self._client: BleakClient | None = None
        self._disconnected = asyncio.Event()
        self._pending: dict[int, asyncio.Future[ControlResponse]] = {}
        self._request_id = self.rng.randrange(256)
        self._request_lock = asyncio.Lock()

    # -- discovery -------------------------------------------------------------------------
    def _matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if SERVICE_UUID not in [u.lower() for u in adv.service_uuids]:
            return False
        if self.sensor.address:
            return device.address.upper() == self.sensor.address.upper()
        return (adv.local_name or device.name) == self.sensor.device

    async def find(self, timeout_s: float = retry.SCAN_TIMEOUT_S) -> BLEDevice:
        """Scan for this sensor: dorsi service UUID and its id as name (or its address)."""
        kwargs: dict[str, Any] = {"service_uuids": [SERVICE_UUID]}
        if self.scanner_backend is not None:
            kwargs["backend"] = self.scanner_backend
        device = await BleakScanner.find_device_by_filter(self._matches, timeout_s, **kwargs)
        if device is None:
            wanted = self.sensor.address or self.sensor.device
            raise SensorNotFoundError(
                f"{wanted} ({self.sensor.side}) not found in {timeout_s:.0f} s: is it charged, "
                "within a few metres, and not connected to another gateway?"
            )
        return device

    # -- one connection --------------------------------------------------------------------
    async def open(self) -> SensorInfo:
        """Find, connect, read device information, configure and start streaming (one attempt)."""
        device = await self.find()
        self._disconnected.clear()
        kwargs: dict[str, Any] = {}
        if self.client_backend is not None:
            kwargs["backend"] = self.client_backend
        client = BleakClient(
            device,
            disconnected_callback=self._on_disconnect,
            timeout=retry.CONNECT_TIMEOUT_S,
            **kwargs,
        )
        self._client = client
        try:
            async with asyncio.timeout(retry.CONNECT_TIMEOUT_S):
                await client.connect()
                info = await self._set_up(client, device)
        except BaseException:
            self._client = None
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise
        self.info = info
        return info

    async def _read_text(self, client: BleakClient, uuid: str) -> str | None:
        try:
            return bytes(await client.read_gatt_char(uuid)).decode("utf-8", "replace").strip("\0")
        except (BleakError, KeyError, ValueError) as exc:
            log.debug("optional characteristic %s unreadable: %s", uuid, exc)
            return None

    async def _set_up(self, client: BleakClient, device: BLEDevice) -> SensorInfo:
        raw_status = bytes(await client.read_gatt_char(STATUS_CHAR_UUID))
        try:
            status = decode_status(raw_status)
        except ProtocolError as exc:
            version = raw_status[0] if raw_status else None
            if version is not None and version != PROTOCOL_VERSION:
                raise IncompatibleSensorError(
                    f"sensor {device.address} speaks protocol v{version}, this gateway v"
                    f"{PROTOCOL_VERSION}: update the gateway (or the sensor firmware)"
                ) from exc
            raise
        await client.start_notify(CONTROL_CHAR_UUID, self._on_control)
        wanted_rate = SampleRate.from_hz(self.sensor.rate_hz)
        wanted_ranges = (self.acc_range, self.gyro_range)
        reconfigure = status.sample_rate != wanted_rate or (
            (status.acc_range, status.gyro_range) != wanted_ranges
        )
        if reconfigure and status.streaming:
            # Rate and ranges change only while stopped (SPEC.md). Otherwise a sensor that kept
            # streaming through a link loss goes on: its ring buffer holds what we missed.
            await self._request(lambda rid: ControlRequest.stop_stream(rid))
        if status.sample_rate != wanted_rate:
            await self._request(lambda rid: ControlRequest.set_rate(rid, self.sensor.rate_hz))
        if (status.acc_range, status.gyro_range) != wanted_ranges:
            await self._request(
                lambda rid: ControlRequest.set_ranges(rid, self.acc_range, self.gyro_range)
            )
        battery = await self.read_battery(client)
        await client.start_notify(DATA_CHAR_UUID, self._on_data)
        await self._request(lambda rid: ControlRequest.start_stream(rid))
        status = decode_status(bytes(await client.read_gatt_char(STATUS_CHAR_UUID)))
        self.stats.connects += 1
        self.stats.state = "connected"
        info = SensorInfo(
            address=device.address,
            name=device.name,
            status=status,
            battery_pct=battery,
            mtu=client.mtu_size,
            manufacturer=await self._read_text(client, MANUFACTURER_NAME_CHAR_UUID),
            model=await self._read_text(client, MODEL_NUMBER_CHAR_UUID),
            serial=await self._read_text(client, SERIAL_NUMBER_CHAR_UUID),
            firmware_revision=await self._read_text(client, FIRMWARE_REVISION_CHAR_UUID),
            hardware_revision=await self._read_text(client, HARDWARE_REVISION_CHAR_UUID),
        )
        log.info(
            "connected to %s (%s, %s side, fw %s, %d Hz, battery %s %%, MTU %d)",
            info.name,
            info.address,
            self.sensor.side,
            ".".join(map(str, status.firmware_version)),
            status.sample_rate.hz,
            battery,
            info.mtu,
        )
        return info

    async def close(self) -> None:
        """Disconnect. Streaming is left on: the sensor keeps recording into its ring buffer,
        so a restarted gateway (e.g. after an upgrade) backfills the time it was away."""
        client = self._client
        self._client = None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await client.disconnect()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    # -- callbacks (bleak's event loop context; enqueue only) --------------------------------
    def _on_data(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        now = time.monotonic()
        self.stats.notifications += 1
        self.stats.last_notification_monotonic_s = now
        try:
            self.packets.put_nowait((now, bytes(data)))
        except asyncio.QueueFull:
            self.stats.queue_overflows += 1
            if self.stats.queue_overflows == 1 or self.stats.queue_overflows % 1000 == 0:
                log.error(
                    "packet queue full (%d): analysis is falling behind; dropped %d packets so "
                    "far (they are recovered by backfill from the sensor's ring buffer)",
                    self.packets.maxsize,
                    self.stats.queue_overflows,
                )

    def _on_control(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            response = decode_response(bytes(data))
        except ProtocolError as exc:
            log.warning("malformed control-point response %s: %s", bytes(data).hex(), exc)
            return
        future = self._pending.pop(response.request_id, None)
        if future is not None and not future.done():
            future.set_result(response)

    def _on_disconnect(self, _client: BleakClient) -> None:
        self.stats.disconnects += 1
        self.stats.state = "disconnected"
        self._disconnected.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("sensor disconnected"))
        self._pending.clear()

    # -- control point -----------------------------------------------------------------------
    async def _request(
        self,
        build: Callable[[int], ControlRequest],
        *,
        client: BleakClient | None = None,
        timeout_s: float = retry.REQUEST_TIMEOUT_S,
        accept: frozenset[Status] = frozenset({Status.OK}),
    ) -> ControlResponse:
        client = client or self._client
        if client is None or not client.is_connected:
            raise ConnectionError("sensor is not connected")
        async with self._request_lock:
            self._request_id = (self._request_id + 1) % 256
            request = build(self._request_id)
            future: asyncio.Future[ControlResponse] = asyncio.get_running_loop().create_future()
            self._pending[request.request_id] = future
            try:
                await client.write_gatt_char(
                    CONTROL_CHAR_UUID, encode_request(request), response=True
                )
                async with asyncio.timeout(timeout_s):
                    response = await future
            except TimeoutError:
                raise ControlError(
                    f"{request.opcode.name} not answered within {timeout_s} s"
                ) from None
            finally:
                self._pending.pop(request.request_id, None)
        if response.status not in accept:
            raise ControlError(
                f"sensor refused {request.opcode.name}: {response.status.name}", response.status
            )
        return response

    async def read_battery(self, client: BleakClient | None = None) -> int | None:
        """Battery level in %, or None when the sensor does not expose it."""
        client = client or self._client
        if client is None:
            raise ConnectionError("sensor is not connected")
        try:
            data = bytes(await client.read_gatt_char(BATTERY_LEVEL_CHAR_UUID))
        except (BleakError, KeyError) as exc:
            log.debug("battery level unreadable: %s", exc)
            return None
        return data[0] if data and data[0] <= 100 else None

    async def time_sync(self) -> SyncExchange:
        """One TIME_SYNC exchange (NTP-style: host send/receive times bracket the device tick)."""
        sent = self.wall_clock()
        response = await self._request(lambda rid: ControlRequest.time_sync(rid, round(sent * 1e6)))
        received = self.wall_clock()
        payload = response.payload
        assert isinstance(payload, TimeSyncPayload)
        return SyncExchange(sent, payload.device_ticks, received)

    async def request_backfill(self, from_sequence: int, count: int) -> BackfillPayload | None:
        """Ask the sensor to resend packets; None if they are no longer in its ring buffer."""
        response = await self._request(
            lambda rid: ControlRequest.backfill(rid, from_sequence, count),
            accept=frozenset({Status.OK, Status.BACKFILL_UNAVAILABLE}),
        )
        if response.status == Status.BACKFILL_UNAVAILABLE:
            return None
        assert isinstance(response.payload, BackfillPayload)
        return response.payload

    # -- the forever loop --------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, on_connected: OnConnected | None = None) -> None:
        """Keep the link up until ``stop`` is set: reconnect with backoff and fresh scans."""
        attempt = 0
        while not stop.is_set():
            self.stats.state = "searching"
            error: BaseException | None = None
            try:
                info = await self.open()
            except (SensorLinkError, BleakError, TimeoutError, ConnectionError, OSError) as exc:
                error = exc
            except ProtocolError as exc:
                error = exc
            if error is not None:
                self.stats.failed_attempts += 1
                self.stats.last_error = f"{type(error).__name__}: {error}"
                pause = retry.pause_before(attempt, error, rng=self.rng)
                if isinstance(error, IncompatibleSensorError):
                    pause = retry.BACKOFF_MAX_S
                log.warning(
                    "%s sensor: attempt %d failed (%s); retrying in %.1f s",
                    self.sensor.side,
                    attempt + 1,
                    self.stats.last_error,
                    pause,
                )
                attempt += 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await stop.wait()
                continue
            attempt = 0
            try:
                if on_connected is not None:
                    await on_connected(self, info)
                stop_task = asyncio.ensure_future(stop.wait())
                lost_task = asyncio.ensure_future(self._disconnected.wait())
                await asyncio.wait({stop_task, lost_task}, return_when=asyncio.FIRST_COMPLETED)
                stop_task.cancel()
                lost_task.cancel()
            except (SensorLinkError, BleakError, ConnectionError, TimeoutError) as exc:
                log.warning("%s sensor: session ended: %s", self.sensor.side, exc)
            if not stop.is_set():
                log.warning("%s sensor: link lost; reconnecting", self.sensor.side)
                self._client = None
        await self.close()
        self.stats.state = "stopped"
