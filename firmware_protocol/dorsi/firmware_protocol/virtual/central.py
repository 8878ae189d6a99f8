"""A minimal bumble central for dorsi sensors: scan, connect, read, control, receive packets.

Used by ``dorsi-sensor serve --demo`` and the tests. It only moves bytes and matches control
responses to requests; decoding is the codec's job. The production gateway uses bleak instead.
Data notifications are queued as ``(monotonic_s, bytes)``; nothing is decoded in the callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy, ServiceProxy
from bumble.hci import Address

from dorsi.firmware_protocol.constants import (
    BATTERY_LEVEL_CHAR_UUID,
    BATTERY_SERVICE_UUID,
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    DEVICE_INFO_SERVICE_UUID,
    FIRMWARE_REVISION_CHAR_UUID,
    HARDWARE_REVISION_CHAR_UUID,
    MANUFACTURER_NAME_CHAR_UUID,
    MODEL_NUMBER_CHAR_UUID,
    SERIAL_NUMBER_CHAR_UUID,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
    AccRange,
    GyroRange,
)
from dorsi.firmware_protocol.control import ControlRequest, ControlResponse, decode_response
from dorsi.firmware_protocol.control import encode_request as _encode_request
from dorsi.firmware_protocol.status import DeviceStatus, decode_status

T = TypeVar("T")

ATT_MTU = 247
"""ATT MTU the central asks for (bytes): 19 samples per packet."""
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 2.0
SCAN_TIMEOUT_S = 3.0

DIS_FIELDS: dict[str, str] = {
    "manufacturer": MANUFACTURER_NAME_CHAR_UUID,
    "model": MODEL_NUMBER_CHAR_UUID,
    "serial_number": SERIAL_NUMBER_CHAR_UUID,
    "hardware_revision": HARDWARE_REVISION_CHAR_UUID,
    "firmware_revision": FIRMWARE_REVISION_CHAR_UUID,
}


class CentralError(RuntimeError):
    """The central could not find, connect to or talk to a sensor; the message says why."""


@dataclass(frozen=True)
class DiscoveredSensor:
    """A dorsi sensor seen while scanning."""

    address: str
    name: str | None
    rssi_dbm: int


async def scan(
    device: Device, *, timeout_s: float = SCAN_TIMEOUT_S, first_only: bool = True
) -> list[DiscoveredSensor]:
    """Scan for advertisers of the dorsi service; ``device`` must be powered on.

    Returns as soon as one sensor (with its name, from the scan response) is seen when
    ``first_only``, else after ``timeout_s``. An empty list when none answers.
    """
    wanted = UUID(SERVICE_UUID)
    found: dict[str, DiscoveredSensor] = {}
    names: dict[str, str] = {}
    done = asyncio.Event()

    def on_advertisement(adv: Advertisement) -> None:
        address = str(adv.address)
        name = adv.data.get(AdvertisingData.Type.COMPLETE_LOCAL_NAME)
        if isinstance(name, str):
            names[address] = name
        uuids = adv.data.get(AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS)
        if (uuids and wanted in uuids) or address in found:
            found[address] = DiscoveredSensor(address, names.get(address), adv.rssi)
            if first_only and address in names:
                done.set()

    device.on(device.EVENT_ADVERTISEMENT, on_advertisement)
    try:
        await device.start_scanning(active=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout_s)
        await device.stop_scanning()
    finally:
        device.remove_listener(device.EVENT_ADVERTISEMENT, on_advertisement)
    return [
        DiscoveredSensor(s.address, names.get(s.address, s.name), s.rssi_dbm)
        for s in found.values()
    ]


class SensorClient:
    """One connection from a bumble central to a dorsi sensor (use :meth:`connect`)."""

    def __init__(self, connection: Connection, peer: Peer) -> None:
        self.connection = connection
        self.peer = peer
        self.packets: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        """Raw data notifications as ``(monotonic_s, bytes)``, in arrival order."""
        self.battery_notifications: asyncio.Queue[int] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self.disconnect_reason: int | None = None
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()
        self._request_ids = itertools.cycle(range(256))
        self._lock = asyncio.Lock()
        self._data: CharacteristicProxy[bytes] | None = None
        self._control: CharacteristicProxy[bytes] | None = None
        self._status: CharacteristicProxy[bytes] | None = None
        self._battery: CharacteristicProxy[bytes] | None = None
        self._info: dict[str, CharacteristicProxy[bytes]] = {}
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)

    @classmethod
    async def connect(
        cls,
        device: Device,
        address: str,
        *,
        mtu: int = ATT_MTU,
        timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> SensorClient:
        """Connect to ``address``, exchange the ATT MTU, discover and subscribe.

        Raises CentralError if the sensor does not answer in ``timeout_s`` or lacks the dorsi
        service.
        """
        target = Address(address, Address.RANDOM_DEVICE_ADDRESS)
        try:
            connection = await asyncio.wait_for(device.connect(target), timeout_s)
        except Exception as exc:  # bumble raises its own types; timeouts too
            raise CentralError(f"could not connect to {address}: {exc!r}") from exc
        client = cls(connection, Peer(connection))
        try:
            await asyncio.wait_for(client._set_up(mtu), timeout_s)
        except BaseException:
            await client.disconnect()
            raise
        return client

    async def _set_up(self, mtu: int) -> None:
        await self.peer.request_mtu(mtu)
        await self.peer.discover_services()
        dorsi = await self._service(SERVICE_UUID, required=True)
        assert dorsi is not None
        self._data = _characteristic(dorsi, DATA_CHAR_UUID)
        self._control = _characteristic(dorsi, CONTROL_CHAR_UUID)
        self._status = _characteristic(dorsi, STATUS_CHAR_UUID)
        battery = await self._service(BATTERY_SERVICE_UUID, required=False)
        if battery is not None:
            self._battery = _characteristic(battery, BATTERY_LEVEL_CHAR_UUID)
            await self._battery.subscribe(self._on_battery)
        info = await self._service(DEVICE_INFO_SERVICE_UUID, required=False)
        if info is not None:
            for key, uuid in DIS_FIELDS.items():
                found = info.get_characteristics_by_uuid(UUID(uuid))
                if found:
                    self._info[key] = found[0]
        await self._control.subscribe(self._on_response, prefer_notify=False)
        await self._data.subscribe(self._on_data)

    async def _service(self, uuid: str, *, required: bool) -> ServiceProxy | None:
        services = self.peer.get_services_by_uuid(UUID(uuid))
        if not services:
            if required:
                raise CentralError(f"{self.connection.peer_address} has no service {uuid}")
            return None
        await services[0].discover_characteristics()
        return services[0]

    # --- properties ---------------------------------------------------------------------------

    @property
    def mtu(self) -> int:
        """Negotiated ATT MTU (bytes)."""
        return int(self.connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        return not self.disconnected.is_set()

    # --- reads --------------------------------------------------------------------------------

    async def read_status(self) -> DeviceStatus:
        """Read and decode the status/config characteristic (ProtocolError if malformed)."""
        assert self._status is not None
        return decode_status(await self._gatt(self._status.read_value()))

    async def read_battery(self) -> int:
        """Battery level (%)."""
        if self._battery is None:
            raise CentralError("the sensor has no Battery Service")
        value = await self._gatt(self._battery.read_value())
        if len(value) != 1:
            raise CentralError(f"battery level must be 1 byte, got {value.hex()}")
        return value[0]

    async def read_device_info(self) -> dict[str, str]:
        """Device Information strings present on the sensor, by DIS_FIELDS key."""
        out = {}
        for key, characteristic in self._info.items():
            value = await self._gatt(characteristic.read_value())
            out[key] = bytes(value).decode("utf-8", "replace")
        return out

    # --- control point ------------------------------------------------------------------------

    def next_request_id(self) -> int:
        """A fresh u8 request id (cycles 0..255)."""
        return next(self._request_ids)

    async def request(
        self, request: ControlRequest, *, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> ControlResponse:
        """Write ``request`` and return the response echoing its opcode and request id.

        Raises CentralError when no matching response arrives in ``timeout_s``.
        """
        return await self._exchange(
            _encode_request(request), (int(request.opcode), request.request_id), timeout_s
        )

    async def write_control(
        self, raw: bytes, *, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> ControlResponse:
        """Write arbitrary (possibly malformed) bytes; return the next response."""
        return await self._exchange(bytes(raw), None, timeout_s)

    async def _exchange(
        self, raw: bytes, match: tuple[int, int] | None, timeout_s: float
    ) -> ControlResponse:
        assert self._control is not None
        async with self._lock:
            while not self._responses.empty():  # stale answers of timed-out requests
                self._responses.get_nowait()
            await self._gatt(self._control.write_value(raw, with_response=True))
            deadline = time.monotonic() + timeout_s
            while True:
                remaining = deadline - time.monotonic()
                try:
                    data = await asyncio.wait_for(self._responses.get(), max(remaining, 0.0))
                except TimeoutError as exc:
                    raise CentralError(
                        f"no control response to {raw.hex()} within {timeout_s} s"
                    ) from exc
                response = decode_response(data)
                if match is None or (int(response.opcode), response.request_id) == match:
                    return response

    async def _gatt(self, operation: Awaitable[T]) -> T:
        """Await a GATT operation; a link lost meanwhile raises CentralError.

        bumble cancels the pending ATT request when the link drops, which would otherwise
        surface as a CancelledError indistinguishable from cancelling the caller.
        """
        try:
            return await operation
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.disconnected.is_set() and task is not None and not task.cancelling():
                raise CentralError("link lost during a GATT operation") from None
            raise
        except CentralError:
            raise
        except Exception as exc:
            raise CentralError(f"GATT operation failed: {exc!r}") from exc

    async def start_stream(self) -> ControlResponse:
        return await self.request(ControlRequest.start_stream(self.next_request_id()))

    async def stop_stream(self) -> ControlResponse:
        return await self.request(ControlRequest.stop_stream(self.next_request_id()))

    async def set_rate(self, rate_hz: int) -> ControlResponse:
        return await self.request(ControlRequest.set_rate(self.next_request_id(), rate_hz))

    async def set_ranges(self, acc_range: AccRange, gyro_range: GyroRange) -> ControlResponse:
        req = ControlRequest.set_ranges(self.next_request_id(), acc_range, gyro_range)
        return await self.request(req)

    async def time_sync(self, host_time_us: int | None = None) -> ControlResponse:
        """TIME_SYNC with ``host_time_us`` (default: now, µs since the Unix epoch, UTC)."""
        host_us = time.time_ns() // 1000 if host_time_us is None else host_time_us
        return await self.request(ControlRequest.time_sync(self.next_request_id(), host_us))

    async def backfill(self, from_sequence: int, count: int) -> ControlResponse:
        req = ControlRequest.backfill(self.next_request_id(), from_sequence, count)
        return await self.request(req)

    async def identify(self, seconds: int) -> ControlResponse:
        return await self.request(ControlRequest.identify(self.next_request_id(), seconds))

    # --- data ---------------------------------------------------------------------------------

    async def next_packet(self, *, timeout_s: float = REQUEST_TIMEOUT_S) -> bytes:
        """The next raw data notification; CentralError if none arrives in ``timeout_s``."""
        try:
            _t, data = await asyncio.wait_for(self.packets.get(), timeout_s)
        except TimeoutError as exc:
            raise CentralError(f"no data notification within {timeout_s} s") from exc
        return data

    async def disconnect(self) -> None:
        """Disconnect (no-op when already disconnected)."""
        if self.disconnected.is_set():
            return
        try:
            await self.connection.disconnect()
        except Exception:
            return
        await asyncio.wait_for(self.disconnected.wait(), CONNECT_TIMEOUT_S)

    # --- callbacks: enqueue only --------------------------------------------------------------

    def _on_data(self, value: bytes) -> None:
        self.packets.put_nowait((time.monotonic(), bytes(value)))

    def _on_response(self, value: bytes) -> None:
        self._responses.put_nowait(bytes(value))

    def _on_battery(self, value: bytes) -> None:
        if len(value) == 1:
            self.battery_notifications.put_nowait(value[0])

    def _on_disconnection(self, reason: int) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()


def _characteristic(service: ServiceProxy, uuid: str) -> CharacteristicProxy[bytes]:
    found = service.get_characteristics_by_uuid(UUID(uuid))
    if not found:
        raise CentralError(f"service {service.uuid} lacks characteristic {uuid}")
    return found[0]
