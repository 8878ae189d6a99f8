"""The virtual brace sensor: a bumble GATT peripheral that behaves like the dorsi firmware.

It advertises the dorsi service as ``dorsi-XXXX``, serves the data (notify), control point
(write + indicate) and status (read) characteristics plus the Battery and Device Information
services, and answers every control op of SPEC.md with a status code. Once started, it keeps
sampling into its ring buffer whether or not a central is connected (that is what BACKFILL
recovers after a link loss); packets go out as notifications while a central is subscribed.

Hooks for tests: :meth:`VirtualSensor.drop_link` (link loss on both sides),
:meth:`VirtualSensor.reboot` (tick and sequence reset, RAM lost), :meth:`VirtualSensor.inject`
(raw, possibly malformed data notifications) and :meth:`VirtualSensor.set_battery_level`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bumble import gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService

from dorsi.firmware_protocol.constants import (
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    DEVICE_NAME_PREFIX,
    LIVE_PACKET_MAX_S,
    MAX_SAMPLES_PER_PACKET,
    SEQUENCE_MODULUS,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
    TICK_HZ,
    AccRange,
    GyroRange,
    Opcode,
    PacketFlag,
    SampleRate,
    Side,
    Status,
)
from dorsi.firmware_protocol.control import (
    BackfillParams,
    BackfillPayload,
    ControlRequest,
    ControlResponse,
    IdentifyParams,
    SetRangesParams,
    SetRateParams,
    TimeSyncParams,
    TimeSyncPayload,
    decode_request,
    encode_response,
)
from dorsi.firmware_protocol.errors import ProtocolError
from dorsi.firmware_protocol.packets import (
    ImuPacket,
    decode_packet,
    encode_packet,
    max_samples_for_mtu,
    samples_per_live_packet,
)
from dorsi.firmware_protocol.status import DeviceStatus, encode_status

from .link import VirtualRadio, random_static_address
from .quantize import quantize
from .ring import PacketRing
from .source import SampleCursor, SampleSource
from .ticks import DeviceClock

logger = logging.getLogger(__name__)

DEFAULT_ATT_MTU = 23
"""ATT MTU before any exchange (bytes); too small to stream (START_STREAM → MTU_TOO_SMALL)."""
ADVERTISING_INTERVAL_MS = 20.0


@dataclass(frozen=True, kw_only=True)
class SensorConfig:
    """Everything that makes one virtual sensor unit what it is (validated on creation)."""

    side: Side = Side.LEFT
    rate_hz: int = 104
    """Sampling rate after boot (Hz): 26, 52, 104 or 208."""
    acc_range: AccRange = AccRange.G16
    gyro_range: GyroRange = GyroRange.DPS2000
    firmware_version: tuple[int, int, int] = (0, 1, 0)
    manufacturer: str = "dorsi project"
    model: str = "dorsi virtual brace IMU"
    hardware_revision: str = "virtual-1"
    serial_number: str | None = None
    """Defaults to the advertised name's suffix."""
    drift_ppm: float = 0.0
    """Device crystal error against the host clock (ppm; > 0 runs fast)."""
    tick_offset: int = 0
    """Device tick count at power-on (ticks), e.g. a sensor that booted long ago."""
    speed: float = 1.0
    """Time-lapse factor: device time (ticks and sampling) runs this much faster than host time."""
    ring_capacity_packets: int = 8192
    """Packets kept for BACKFILL: 8192 × 19 samples ≈ 12.5 min at 208 Hz (≥ SPEC's 10 min)."""
    battery_percent: int = 100
    battery_drain_percent_per_hour: float = 0.0
    """Battery drain in % per hour of device time (0: constant level)."""
    loop: bool = False
    """Replay the source from the start when it ends (else streaming stops at its end)."""

    def __post_init__(self) -> None:
        SampleRate.from_hz(self.rate_hz)
        if not 0 <= self.battery_percent <= 100:
            raise ValueError(f"battery_percent must be 0..100, got {self.battery_percent}")
        if not (
            math.isfinite(self.battery_drain_percent_per_hour)
            and self.battery_drain_percent_per_hour >= 0
        ):
            raise ValueError("battery_drain_percent_per_hour must be finite and >= 0")
        if not 1 <= self.ring_capacity_packets <= 0xFFFF:
            raise ValueError("ring_capacity_packets must be 1..65535")
        if not all(isinstance(p, int) and 0 <= p <= 255 for p in self.firmware_version):
            raise ValueError(f"firmware_version parts must be 0..255, got {self.firmware_version}")


@dataclass
class SensorStats:
    """Counters of what the sensor did since it was created (never reset by reboot)."""

    packets_built: int = 0
    samples_built: int = 0
    packets_notified: int = 0
    backfill_packets_notified: int = 0
    injected_notifications: int = 0
    control_requests: int = 0
    control_errors: int = 0
    """Requests answered with a status other than OK."""
    reboots: int = 0
    identify_requests: int = 0


def advertised_name(address: str) -> str:
    """``dorsi-XXXX`` from the last two address bytes (``"…:44:55"`` → ``dorsi-4455``)."""
    octets = address.split(":")
    if len(octets) != 6:
        raise ValueError(f"malformed BLE address {address!r}")
    return DEVICE_NAME_PREFIX + (octets[-2] + octets[-1]).upper()


@dataclass
class _Streaming:
    """Acquisition state of one START_STREAM … STOP_STREAM span."""

    next_tick: float
    start_pending: bool = True
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class VirtualSensor:
    """A dorsi brace sensor emulated on a bumble ``Device`` (any bumble transport).

    Use :meth:`on_radio` for the in-process virtual link; ``radio`` is needed only for
    :meth:`drop_link`. Call :meth:`start` inside the running loop, :meth:`close` at the end.
    """

    def __init__(
        self,
        device: Device,
        source: SampleSource,
        config: SensorConfig | None = None,
        *,
        radio: VirtualRadio | None = None,
        now_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self.config = config or SensorConfig()
        self.radio = radio
        self.address = str(device.random_address)
        self.name = advertised_name(self.address)
        self.stats = SensorStats()
        self.clock = DeviceClock(
            drift_ppm=self.config.drift_ppm,
            tick_offset=self.config.tick_offset,
            speed=self.config.speed,
            now_s=now_s,
        )
        self.ring = PacketRing(self.config.ring_capacity_packets)
        self._source = source
        self._cursor = SampleCursor(source, self.config.rate_hz, loop=self.config.loop)
        self._now_s = now_s
        self._connections: list[Connection] = []
        self._gone: dict[Connection, asyncio.Event] = {}  # set when that link drops
        self._last_mtu = DEFAULT_ATT_MTU
        self._requests: asyncio.Queue[tuple[Connection, bytes]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._backfill_task: asyncio.Task[None] | None = None
        self._streaming: _Streaming | None = None
        self._battery_at_boot = float(self.config.battery_percent)
        self._battery_t0_s = now_s()
        self._battery_override: int | None = None
        self._identify_until_s = 0.0
        self._boot_defaults()
        self._pending_backfill: tuple[Connection, list[bytes]] | None = None
        self._build_gatt()
        device.on(device.EVENT_CONNECTION, self._on_connection)

    @classmethod
    def on_radio(
        cls,
        radio: VirtualRadio,
        source: SampleSource,
        config: SensorConfig | None = None,
        *,
        address: str | None = None,
        now_s: Callable[[], float] = time.monotonic,
    ) -> VirtualSensor:
        """A sensor on the in-process ``radio`` (random static ``address``, generated if None).

        ``now_s`` is the host clock (s) the device clock drifts against; tests may fake it.
        """
        address = address or random_static_address()
        device = radio.add_device(advertised_name(address), address)
        return cls(device, source, config, radio=radio, now_s=now_s)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on, start the control-point worker and advertise (restarting after each link)."""
        await self.device.power_on()
        self._spawn(self._control_worker())
        if self.config.battery_drain_percent_per_hour > 0:
            self._spawn(self._battery_worker())
        await self._advertise()

    async def close(self) -> None:
        """Stop every task and power the device off."""
        self._stop_streaming()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.device.power_off()

    async def __aenter__(self) -> VirtualSensor:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- state for tests and the CLI ----------------------------------------------------------

    @property
    def streaming(self) -> bool:
        """True between START_STREAM and STOP_STREAM (or the end of the source, or reboot)."""
        return self._streaming is not None

    @property
    def connected(self) -> bool:
        """True while at least one central is connected."""
        return bool(self._connections)

    @property
    def next_sequence(self) -> int:
        """Sequence number the next live packet will carry (u16)."""
        return self._next_sequence

    @property
    def rate_hz(self) -> int:
        """Current sampling rate (Hz)."""
        return self._rate.hz

    @property
    def acc_range(self) -> AccRange:
        return self._acc_range

    @property
    def gyro_range(self) -> GyroRange:
        return self._gyro_range

    @property
    def time_synced(self) -> bool:
        """True once a TIME_SYNC was answered since boot."""
        return self._time_synced

    @property
    def identifying(self) -> bool:
        """True while the (virtual) LED blinks after IDENTIFY."""
        return self._now_s() < self._identify_until_s

    @property
    def source_position_s(self) -> float:
        """Place in the source recording of the next sample (s)."""
        return self._cursor.position_s

    @property
    def battery_level(self) -> int:
        """Battery level (%) as the Battery Level characteristic reports it."""
        if self._battery_override is not None:
            return self._battery_override
        hours = (self._now_s() - self._battery_t0_s) * self.config.speed / 3600.0
        level = self._battery_at_boot - self.config.battery_drain_percent_per_hour * hours
        return max(0, min(100, math.floor(level)))

    def device_status(self) -> DeviceStatus:
        """The status characteristic's current value."""
        return DeviceStatus(
            firmware_version=self.config.firmware_version,
            sample_rate=self._rate,
            acc_range=self._acc_range,
            gyro_range=self._gyro_range,
            side=self.config.side,
            streaming=self.streaming,
            time_synced=self._time_synced,
            ring_capacity_packets=self.ring.capacity_packets,
            next_sequence=self._next_sequence,
            uptime_ticks=self.clock.ticks(),
        )

    # --- test hooks ---------------------------------------------------------------------------

    async def set_battery_level(self, percent: int) -> None:
        """Set the battery level (%) and notify subscribed centrals."""
        if not 0 <= percent <= 100:
            raise ValueError(f"battery level must be 0..100 %, got {percent}")
        self._battery_override = percent
        await self._notify_battery()

    def drop_link(self) -> int:
        """Simulate link loss now, on both sides (needs the in-process ``radio``).

        Returns the number of connection ends closed. Acquisition continues into the ring.
        """
        if self.radio is None:
            raise RuntimeError("drop_link needs the VirtualRadio the sensor was created on")
        return self.radio.drop(self.device)

    async def reboot(self) -> None:
        """Power-cycle: links drop, ticks restart at 0, sequence restarts at 0, the ring buffer,
        time sync and configuration are lost; the source keeps its place. Advertises again."""
        self._stop_streaming()
        if self._backfill_task is not None:
            self._backfill_task.cancel()
        if self.radio is not None:
            self.radio.drop(self.device)
        else:
            for connection in list(self._connections):
                with contextlib.suppress(Exception):
                    await connection.disconnect()
        self.clock.reboot(0)
        self.ring.clear()
        self._boot_defaults()
        self.stats.reboots += 1
        await asyncio.sleep(0)
        await self._advertise()

    async def inject(self, data: bytes) -> None:
        """Send ``data`` as-is as a data notification (e.g. a malformed packet)."""
        self.stats.injected_notifications += 1
        await self.device.notify_subscribers(self._data_char, bytes(data))

    # --- GATT ---------------------------------------------------------------------------------

    def _build_gatt(self) -> None:
        props = gatt.Characteristic.Properties
        self._data_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            DATA_CHAR_UUID, props.NOTIFY, gatt.Characteristic.Permissions(0), b""
        )
        self._control_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            CONTROL_CHAR_UUID,
            props.WRITE | props.INDICATE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_control_write),
        )
        self._status_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            STATUS_CHAR_UUID,
            props.READ,
            gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=lambda _c: encode_status(self.device_status())),
        )
        dorsi = gatt.Service(SERVICE_UUID, [self._data_char, self._control_char, self._status_char])
        self._battery = BatteryService(lambda _c: self.battery_level)
        info = DeviceInformationService(
            manufacturer_name=self.config.manufacturer,
            model_number=self.config.model,
            serial_number=self.config.serial_number or self.name.removeprefix(DEVICE_NAME_PREFIX),
            hardware_revision=self.config.hardware_revision,
            firmware_revision=".".join(str(p) for p in self.config.firmware_version),
        )
        self.device.add_services([dorsi, self._battery, info])

    async def _advertise(self) -> None:
        # bumble's virtual controller answers scans with the advertising data itself, so the
        # name must ride in ADV_IND: service UUID (18 B) + name (12 B) fill 30 of 31 bytes,
        # leaving no room for Flags. (Real firmware: Flags + UUID in ADV_IND, name in SCAN_RSP.)
        name = (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())
        uuid = UUID(SERVICE_UUID).to_bytes()
        adv = AdvertisingData(
            [(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, uuid), name]
        )
        scan = AdvertisingData([name])
        if self.device.is_advertising:
            await self.device.stop_advertising()
        await self.device.start_advertising(
            auto_restart=True,
            advertising_data=bytes(adv),
            scan_response_data=bytes(scan),
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )

    def _on_connection(self, connection: Connection) -> None:
        self._connections.append(connection)
        self._last_mtu = connection.att_mtu
        gone = self._gone[connection] = asyncio.Event()

        def on_mtu() -> None:
            self._last_mtu = connection.att_mtu

        def on_disconnection(reason: int) -> None:
            logger.info("%s: central %s disconnected (0x%02x)", self.name, connection, reason)
            gone.set()
            self._gone.pop(connection, None)
            if connection in self._connections:
                self._connections.remove(connection)

        connection.on(connection.EVENT_CONNECTION_ATT_MTU_UPDATE, on_mtu)
        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)

    # --- control point ------------------------------------------------------------------------

    def _on_control_write(self, connection: Connection, value: bytes) -> None:
        self._requests.put_nowait((connection, bytes(value)))

    async def _control_worker(self) -> None:
        while True:
            connection, raw = await self._requests.get()
            try:
                response = await self._handle(connection, raw)
                self.stats.control_requests += 1
                if not response.ok:
                    self.stats.control_errors += 1
                await self._indicate(connection, encode_response(response))
            except Exception:  # never let one request stop the control point
                logger.exception("%s: control request %s not answered", self.name, raw.hex())
            if self._pending_backfill is not None:  # packets follow their BACKFILL response
                backfill_connection, packets = self._pending_backfill
                self._pending_backfill = None
                self._backfill_task = self._spawn(self._send_backfill(backfill_connection, packets))

    async def _indicate(self, connection: Connection, value: bytes) -> None:
        """Indicate ``value`` on the control point; give up when the link drops meanwhile
        (bumble would otherwise wait for the confirmation until its 30 s ATT timeout)."""
        gone = self._gone.get(connection)
        if gone is None:
            return
        indicate = asyncio.ensure_future(
            self.device.indicate_subscriber(connection, self._control_char, value)
        )
        lost = asyncio.ensure_future(gone.wait())
        await asyncio.wait({indicate, lost}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if not indicate.done():
            indicate.cancel()
            logger.info("%s: link lost before a response was confirmed", self.name)
        elif indicate.exception() is not None:
            logger.info("%s: response not delivered: %s", self.name, indicate.exception())

    async def _handle(self, connection: Connection, raw: bytes) -> ControlResponse:
        try:
            request = decode_request(raw)
        except ProtocolError as exc:
            logger.info("%s: malformed control write %s: %s", self.name, raw.hex(), exc)
            return ControlResponse(exc.opcode or 0, exc.request_id or 0, exc.status)
        try:
            return await self._execute(connection, request)
        except Exception:
            logger.exception("%s: %s failed", self.name, request.opcode.name)
            return ControlResponse.answer(request, Status.INTERNAL_ERROR)

    async def _execute(self, connection: Connection, req: ControlRequest) -> ControlResponse:
        op, params = req.opcode, req.params
        if op == Opcode.START_STREAM:
            return ControlResponse.answer(req, self._start_streaming(connection.att_mtu))
        if op == Opcode.STOP_STREAM:
            self._stop_streaming()
            return ControlResponse.answer(req)
        if op == Opcode.SET_RATE and isinstance(params, SetRateParams):
            if self.streaming:
                return ControlResponse.answer(req, Status.INVALID_STATE)
            self._rate = SampleRate.from_hz(params.rate_hz)
            self._cursor.set_rate(params.rate_hz)
            return ControlResponse.answer(req)
        if op == Opcode.SET_RANGES and isinstance(params, SetRangesParams):
            if self.streaming:
                return ControlResponse.answer(req, Status.INVALID_STATE)
            self._acc_range, self._gyro_range = params.acc_range, params.gyro_range
            return ControlResponse.answer(req)
        if op == Opcode.TIME_SYNC and isinstance(params, TimeSyncParams):
            ticks = self.clock.ticks()
            self._time_synced = True
            return ControlResponse.answer(req, payload=TimeSyncPayload(params.host_time_us, ticks))
        if op == Opcode.BACKFILL and isinstance(params, BackfillParams):
            return self._start_backfill(connection, req, params)
        if op == Opcode.IDENTIFY and isinstance(params, IdentifyParams):
            self._identify_until_s = self._now_s() + params.seconds / self.config.speed
            self.stats.identify_requests += 1
            return ControlResponse.answer(req)
        return ControlResponse.answer(req, Status.INTERNAL_ERROR)

    # --- streaming ----------------------------------------------------------------------------

    def _boot_defaults(self) -> None:
        self._rate = SampleRate.from_hz(self.config.rate_hz)
        self._cursor.set_rate(self.config.rate_hz)
        self._acc_range = self.config.acc_range
        self._gyro_range = self.config.gyro_range
        self._next_sequence = 0
        self._time_synced = False

    def _start_streaming(self, att_mtu: int) -> Status:
        try:
            max_samples_for_mtu(att_mtu)
        except ProtocolError:
            return Status.MTU_TOO_SMALL
        self._last_mtu = att_mtu
        if self._streaming is not None:
            return Status.OK
        state = _Streaming(next_tick=float(self.clock.ticks()))
        state.task = self._spawn(self._acquire(state))
        state.task.add_done_callback(lambda task: self._acquisition_ended(state, task))
        self._streaming = state
        return Status.OK

    def _acquisition_ended(self, state: _Streaming, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: acquisition failed", self.name, exc_info=task.exception())
        if self._streaming is state:
            self._streaming = None

    def _stop_streaming(self) -> None:
        state, self._streaming = self._streaming, None
        if state is not None and state.task is not None:
            state.task.cancel()

    async def _acquire(self, state: _Streaming) -> None:
        """Sample the source at the device's pace; store every packet, notify subscribers."""
        step_ticks = TICK_HZ / self._rate.hz
        while self._streaming is state:
            n = self._samples_per_packet()
            wait_s = self.clock.host_seconds_until(state.next_tick + (n - 1) * step_ticks)
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            acc, gyr = self._cursor.take(n)
            if len(acc) == 0:
                logger.info("%s: source exhausted, streaming stops", self.name)
                self._streaming = None
                return
            flags = PacketFlag(0)
            if state.start_pending:
                flags |= PacketFlag.STREAM_START
            if self._time_synced:
                flags |= PacketFlag.TIME_SYNCED
            packet = ImuPacket.build(
                sequence=self._next_sequence,
                t0_ticks=round(state.next_tick),
                samples=quantize(acc, gyr, self._acc_range, self._gyro_range).tolist(),
                sample_rate=self._rate,
                acc_range=self._acc_range,
                gyro_range=self._gyro_range,
                flags=flags,
            )
            state.start_pending = False
            data = encode_packet(packet)
            self.ring.append(self._next_sequence, data)
            self._next_sequence = (self._next_sequence + 1) % SEQUENCE_MODULUS
            state.next_tick += len(acc) * step_ticks
            self.stats.packets_built += 1
            self.stats.samples_built += len(acc)
            if self._connections:
                await self.device.notify_subscribers(self._data_char, data)
                self.stats.packets_notified += 1

    def _samples_per_packet(self) -> int:
        try:
            return samples_per_live_packet(self._rate.hz, self._last_mtu)
        except ProtocolError:  # START_STREAM refuses such an MTU; keep the latency bound anyway
            return min(MAX_SAMPLES_PER_PACKET, max(1, int(self._rate.hz * LIVE_PACKET_MAX_S)))

    # --- backfill -----------------------------------------------------------------------------

    def _start_backfill(
        self, connection: Connection, req: ControlRequest, params: BackfillParams
    ) -> ControlResponse:
        if self._backfill_task is not None and not self._backfill_task.done():
            return ControlResponse.answer(req, Status.BUSY)
        part = self.ring.request(params.from_sequence, params.count)
        if part is None:
            return ControlResponse.answer(req, Status.BACKFILL_UNAVAILABLE)
        if max(len(p) for p in part.packets) > connection.att_mtu - 3:
            return ControlResponse.answer(req, Status.MTU_TOO_SMALL)
        resent = [_with_backfill_flag(p) for p in part.packets]
        self._pending_backfill = (connection, resent)  # sent once the response is indicated
        payload = BackfillPayload(part.first_sequence, len(resent))
        return ControlResponse.answer(req, payload=payload)

    async def _send_backfill(self, connection: Connection, packets: list[bytes]) -> None:
        for data in packets:
            if connection not in self._connections:
                return
            await self.device.notify_subscriber(connection, self._data_char, data)
            self.stats.backfill_packets_notified += 1
            await asyncio.sleep(0)

    # --- battery ------------------------------------------------------------------------------

    async def _battery_worker(self) -> None:
        last = self.battery_level
        while True:
            await asyncio.sleep(1.0 / self.config.speed)
            level = self.battery_level
            if level != last:
                last = level
                await self._notify_battery()

    async def _notify_battery(self) -> None:
        await self.device.notify_subscribers(
            self._battery.battery_level_characteristic, self.battery_level
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _with_backfill_flag(data: bytes) -> bytes:
    """The stored packet re-encoded with the BACKFILL flag set."""
    packet = decode_packet(data)
    header = dataclasses.replace(packet.header, flags=packet.header.flags | PacketFlag.BACKFILL)
    return encode_packet(ImuPacket(header, packet.samples))
