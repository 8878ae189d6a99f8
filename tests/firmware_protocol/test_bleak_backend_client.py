"""Real ``bleak.BleakClient`` over the bumble backend, talking to virtual brace sensors.

What the gateway does on a Raspberry Pi, with only ``backend=`` injected: connect, list
services, read status/battery/Device Information, drive the control point (write with response,
answer by indication), stream data notifications, lose the link, reconnect, two feet at once.
Every test runs its own event loop with a hard timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakDBusError, BleakDeviceNotFoundError, BleakError

from dorsi.firmware_protocol.bleak_backend import ATT_MTU, BumbleHub
from dorsi.firmware_protocol.constants import (
    BATTERY_LEVEL_CHAR_UUID,
    BATTERY_SERVICE_UUID,
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    DEVICE_INFO_SERVICE_UUID,
    FIRMWARE_REVISION_CHAR_UUID,
    HARDWARE_REVISION_CHAR_UUID,
    MANUFACTURER_NAME_CHAR_UUID,
    MAX_SAMPLES_PER_PACKET,
    MODEL_NUMBER_CHAR_UUID,
    SEQUENCE_MODULUS,
    SERIAL_NUMBER_CHAR_UUID,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
    TICK_HZ,
    PacketFlag,
    SampleRate,
    Side,
    Status,
)
from dorsi.firmware_protocol.control import ControlRequest, ControlResponse, decode_response
from dorsi.firmware_protocol.control import encode_request as _encode_request
from dorsi.firmware_protocol.packets import ImuPacket, decode_packet
from dorsi.firmware_protocol.status import decode_status
from dorsi.firmware_protocol.virtual.link import VirtualRadio
from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
from dorsi.firmware_protocol.virtual.source import ArraySource

GAP_UUID = "00001800-0000-1000-8000-00805f9b34fb"
CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
REPLY_S = 2.0


def run(coro: Coroutine[Any, Any, None], timeout_s: float = 15.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout_s))


def walk_source(seconds: float = 60.0, rate_hz: int = 208) -> ArraySource:
    """Gravity on z and a 1 Hz swing on the pitch gyro (deg/s), body-aligned sensor frame."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    acc = np.zeros((t.size, 3))
    acc[:, 2] = 9.81
    gyr = np.zeros((t.size, 3))
    gyr[:, 1] = -300.0 * np.sin(2 * np.pi * t)
    return ArraySource(t, acc, gyr)


@contextlib.asynccontextmanager
async def world(
    *configs: SensorConfig,
) -> AsyncIterator[tuple[BumbleHub, list[VirtualSensor]]]:
    """Started sensors and a started hub on one in-process radio."""
    radio = VirtualRadio()
    async with contextlib.AsyncExitStack() as stack:
        sensors = []
        for config in configs:
            sensor = VirtualSensor.on_radio(radio, walk_source(), config)
            sensors.append(await stack.enter_async_context(sensor))
        hub = await stack.enter_async_context(BumbleHub(radio))
        yield hub, sensors


async def scan_for(hub: BumbleHub, sensor: VirtualSensor) -> BLEDevice:
    device = await BleakScanner.find_device_by_address(
        sensor.address, timeout=2.0, backend=hub.backends.scanner
    )
    assert device is not None
    return device


class Link:
    """A connected ``BleakClient`` with the control point subscribed (as the gateway does)."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.responses: asyncio.Queue[ControlResponse] = asyncio.Queue()
        self.packets: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self._request_id = 0

    async def subscribe(self) -> None:
        await self.client.start_notify(
            CONTROL_CHAR_UUID, lambda _c, data: self.responses.put_nowait(decode_response(data))
        )
        await self.client.start_notify(
            DATA_CHAR_UUID,
            lambda _c, data: self.packets.put_nowait((time.monotonic(), bytes(data))),
        )

    async def request(self, make: Any, *args: int) -> ControlResponse:
        self._request_id = (self._request_id + 1) % 256
        request: ControlRequest = make(self._request_id, *args)
        await self.client.write_gatt_char(CONTROL_CHAR_UUID, _encode_request(request), True)
        response = await asyncio.wait_for(self.responses.get(), REPLY_S)
        assert (response.opcode, response.request_id) == (request.opcode, request.request_id)
        return response

    async def next_packets(self, n: int) -> list[ImuPacket]:
        return [
            decode_packet((await asyncio.wait_for(self.packets.get(), REPLY_S))[1])
            for _ in range(n)
        ]


def assert_contiguous(packets: list[ImuPacket]) -> None:
    sequences = [p.header.sequence for p in packets]
    steps = {(b - a) % SEQUENCE_MODULUS for a, b in itertools.pairwise(sequences)}
    assert steps == {1}, sequences


def test_connect_lists_services_characteristics_and_properties() -> None:
    async def scenario() -> None:
        async with world(SensorConfig()) as (hub, (sensor,)):
            device = await scan_for(hub, sensor)
            async with BleakClient(device, backend=hub.backends.client) as client:
                assert client.is_connected
                assert client.mtu_size == ATT_MTU
                assert client.backend_id == "BumbleClient"
                assert client.name == sensor.name
                uuids = {s.uuid for s in client.services}
                assert uuids == {SERVICE_UUID, BATTERY_SERVICE_UUID, DEVICE_INFO_SERVICE_UUID}
                assert client.services.get_service(GAP_UUID) is None  # hidden, as by BlueZ
                dorsi = client.services.get_service(SERVICE_UUID)
                assert dorsi is not None
                props = {c.uuid: c.properties for c in dorsi.characteristics}
                assert props == {
                    DATA_CHAR_UUID: ["notify"],
                    CONTROL_CHAR_UUID: ["write", "indicate"],
                    STATUS_CHAR_UUID: ["read"],
                }
                data_char = dorsi.get_characteristic(DATA_CHAR_UUID)
                assert data_char is not None
                assert [d.uuid for d in data_char.descriptors] == [CCCD_UUID]
                assert data_char.max_write_without_response_size == ATT_MTU - 3
                battery = client.services.get_characteristic(BATTERY_LEVEL_CHAR_UUID)
                assert battery is not None
                assert battery.properties == ["read", "notify"]
            assert not client.is_connected

    run(scenario())


def test_services_argument_limits_the_collection() -> None:
    async def scenario() -> None:
        async with world(SensorConfig()) as (hub, (sensor,)):
            device = await scan_for(hub, sensor)
            client = BleakClient(device, services=[SERVICE_UUID], backend=hub.backends.client)
            async with client:
                assert [s.uuid for s in client.services] == [SERVICE_UUID]

    run(scenario())


def test_reads_status_battery_and_device_information() -> None:
    config = SensorConfig(
        side=Side.RIGHT,
        rate_hz=52,
        battery_percent=87,
        firmware_version=(1, 4, 2),
        serial_number="SN-0042",
    )

    async def scenario() -> None:
        async with world(config) as (hub, (sensor,)):
            device = await scan_for(hub, sensor)
            async with BleakClient(device, backend=hub.backends.client) as client:
                status = decode_status(await client.read_gatt_char(STATUS_CHAR_UUID))
                assert status.side == Side.RIGHT
                assert status.sample_rate == SampleRate.HZ_52
                assert status.firmware_version == (1, 4, 2)
                assert not status.streaming
                assert await client.read_gatt_char(BATTERY_LEVEL_CHAR_UUID) == bytearray([87])
                info = {
                    uuid: (await client.read_gatt_char(uuid)).decode()
                    for uuid in (
                        MANUFACTURER_NAME_CHAR_UUID,
                        MODEL_NUMBER_CHAR_UUID,
                        SERIAL_NUMBER_CHAR_UUID,
                        HARDWARE_REVISION_CHAR_UUID,
                        FIRMWARE_REVISION_CHAR_UUID,
                    )
                }
                assert info == {
                    MANUFACTURER_NAME_CHAR_UUID: config.manufacturer,
                    MODEL_NUMBER_CHAR_UUID: config.model,
                    SERIAL_NUMBER_CHAR_UUID: "SN-0042",
                    HARDWARE_REVISION_CHAR_UUID: config.hardware_revision,
                    FIRMWARE_REVISION_CHAR_UUID: "1.4.2",
                }

    run(scenario())


def test_control_requests_are_answered_by_indication() -> None:
    async def scenario() -> None:
        async with world(SensorConfig(rate_hz=104)) as (hub, (sensor,)):
            device = await scan_for(hub, sensor)
            async with BleakClient(device, backend=hub.backends.client) as client:
                link = Link(client)
                await link.subscribe()
                assert (await link.request(ControlRequest.set_rate, 26)).status == Status.OK
                status = decode_status(await client.read_gatt_char(STATUS_CHAR_UUID))
                assert status.sample_rate == SampleRate.HZ_26
                assert (await link.request(ControlRequest.start_stream)).ok
                refused = await link.request(ControlRequest.set_rate, 208)
                assert refused.status == Status.INVALID_STATE  # not while streaming
                synced = await link.request(ControlRequest.time_sync, 1_700_000_000_000_000)
                assert synced.ok
                assert synced.payload is not None
                assert sensor.time_synced

    run(scenario())


def test_data_notifications_are_contiguous_at_the_configured_rate() -> None:
    rate_hz = 208
    window_s = 1.5

    async def scenario() -> None:
        async with world(SensorConfig(rate_hz=104)) as (hub, (sensor,)):
            device = await scan_for(hub, sensor)
            async with BleakClient(device, backend=hub.backends.client) as client:
                link = Link(client)
                await link.subscribe()
                assert (await link.request(ControlRequest.set_rate, rate_hz)).ok
                assert (await link.request(ControlRequest.start_stream)).ok
                first = (await link.next_packets(1))[0]
                t_start = time.monotonic()
                await asyncio.sleep(window_s)
                arrived = link.packets.qsize()
                elapsed_s = time.monotonic() - t_start
                packets = [first] + [
                    decode_packet(link.packets.get_nowait()[1]) for _ in range(arrived)
                ]

                assert first.header.sequence == 0
                assert first.header.flags & PacketFlag.STREAM_START
                assert_contiguous(packets)
                assert {p.header.sample_rate.hz for p in packets} == {rate_hz}
                assert {len(p.samples) for p in packets} == {MAX_SAMPLES_PER_PACKET}
                # device ticks advance by exactly one packet of samples per packet
                ticks = np.diff([p.header.t0_ticks for p in packets])
                expected_ticks = MAX_SAMPLES_PER_PACKET * TICK_HZ / rate_hz
                assert np.all(np.abs(ticks - expected_ticks) <= 1)
                # and they arrive at the configured rate in host time (loose: a loaded CI box)
                arrival_hz = arrived * MAX_SAMPLES_PER_PACKET / elapsed_s
                assert 0.7 * rate_hz < arrival_hz < 1.3 * rate_hz

                await client.stop_notify(DATA_CHAR_UUID)
                await asyncio.sleep(0.05)
                drained = link.packets.qsize()
                await asyncio.sleep(0.3)
                assert link.packets.qsize() == drained  # nothing after stop_notify
                assert sensor.streaming  # the sensor keeps sampling into its ring

    run(scenario())


def test_forced_link_loss_fires_disconnected_callback_and_reconnect_resumes() -> None:
    async def scenario() -> None:
        async with world(SensorConfig(speed=10.0)) as (hub, (sensor,)):
            device = await scan_for(hub, sensor)
            lost = asyncio.Event()
            calls: list[BleakClient] = []

            def on_disconnect(client: BleakClient) -> None:
                calls.append(client)
                lost.set()

            client = BleakClient(device, on_disconnect, backend=hub.backends.client)
            await client.connect()
            link = Link(client)
            await link.subscribe()
            assert (await link.request(ControlRequest.start_stream)).ok
            before = await link.next_packets(3)

            assert sensor.drop_link() == 2  # both ends of the one link
            await asyncio.wait_for(lost.wait(), REPLY_S)
            assert calls == [client]
            assert not client.is_connected
            assert hub.connections == 0
            with pytest.raises(BleakError):
                client.services  # noqa: B018 - bleak raises once the services are gone
            with pytest.raises(BleakError):
                await client.read_gatt_char(STATUS_CHAR_UUID)

            # the gateway's path back: rescan (the sensor advertises again), reconnect
            device = await scan_for(hub, sensor)
            client = BleakClient(device, on_disconnect, backend=hub.backends.client)
            await client.connect()
            link = Link(client)
            await link.subscribe()
            status = decode_status(await client.read_gatt_char(STATUS_CHAR_UUID))
            assert status.streaming  # acquisition went on during the outage
            after = await link.next_packets(3)
            assert_contiguous(after)
            assert after[0].header.sequence > before[-1].header.sequence + 1  # a gap to backfill
            await client.disconnect()
            assert len(calls) == 2  # BlueZ calls it on a requested disconnect too
            await client.disconnect()  # idempotent

    run(scenario())


def test_reconnect_with_the_same_client_object() -> None:
    async def scenario() -> None:
        async with world(SensorConfig()) as (hub, (sensor,)):
            lost = asyncio.Event()
            client = BleakClient(
                await scan_for(hub, sensor), lambda _c: lost.set(), backend=hub.backends.client
            )
            for _ in range(3):
                lost.clear()
                await client.connect()
                assert decode_status(await client.read_gatt_char(STATUS_CHAR_UUID)).side
                sensor.drop_link()
                await asyncio.wait_for(lost.wait(), REPLY_S)
                assert not client.is_connected

    run(scenario())


def test_left_and_right_sensors_stream_at_once() -> None:
    async def scenario() -> None:
        configs = (
            SensorConfig(side=Side.LEFT, speed=5.0),
            SensorConfig(side=Side.RIGHT, speed=5.0),
        )
        async with world(*configs) as (hub, (left, right)):
            found = await BleakScanner.discover(
                0.3, service_uuids=[SERVICE_UUID], backend=hub.backends.scanner
            )
            assert {d.address for d in found} == {left.address, right.address}
            lost: list[str] = []
            clients = {
                d.address: BleakClient(
                    d, lambda c: lost.append(c.address), backend=hub.backends.client
                )
                for d in found
            }
            await asyncio.gather(*(c.connect() for c in clients.values()))
            assert hub.connections == 2
            links = {address: Link(client) for address, client in clients.items()}
            for address, link in links.items():
                await link.subscribe()
                status = decode_status(await link.client.read_gatt_char(STATUS_CHAR_UUID))
                assert status.side == (Side.LEFT if address == left.address else Side.RIGHT)
                assert (await link.request(ControlRequest.start_stream)).ok
            for link in links.values():
                assert_contiguous(await link.next_packets(10))

            left.drop_link()
            await asyncio.sleep(0.1)
            assert lost == [left.address]
            assert not clients[left.address].is_connected
            right_link = links[right.address]
            assert_contiguous(await right_link.next_packets(10))  # the other foot goes on
            await clients[right.address].disconnect()

    run(scenario())


def test_connect_to_an_unknown_address_raises_device_not_found() -> None:
    async def scenario() -> None:
        async with world() as (hub, _sensors):
            client = BleakClient("C0:11:22:33:44:55", backend=hub.backends.client, timeout=0.3)
            with pytest.raises(BleakDeviceNotFoundError, match="C0:11:22:33:44:55"):
                await client.connect()

    run(scenario())


def test_connect_to_an_address_string_scans_first() -> None:
    async def scenario() -> None:
        async with world(SensorConfig()) as (hub, (sensor,)):
            client = BleakClient(sensor.address, backend=hub.backends.client, timeout=2.0)
            await client.connect()
            assert client.is_connected
            await client.disconnect()

    run(scenario())


def test_connect_times_out_when_the_sensor_stops_advertising_then_recovers() -> None:
    async def scenario() -> None:
        async with world(SensorConfig()) as (hub, (sensor,)):
            device = await scan_for(hub, sensor)
            await sensor.device.stop_advertising()
            client = BleakClient(device, backend=hub.backends.client, timeout=0.3)
            with pytest.raises(TimeoutError):
                await client.connect()
            assert not client.is_connected
            await sensor.device.start_advertising(auto_restart=True)
            await client.connect()  # no stale connect attempt left behind
            assert hub.connections == 1
            await client.disconnect()

    run(scenario())


def test_gatt_errors_look_like_bluez() -> None:
    async def scenario() -> None:
        async with world(SensorConfig()) as (hub, (sensor,)):
            client = BleakClient(await scan_for(hub, sensor), backend=hub.backends.client)
            async with client:
                # ATT error responses arrive as BlueZ words them (0x0d: value longer than 512)
                with pytest.raises(BleakDBusError, match="ATT error: 0x0d"):
                    await client.write_gatt_char(CONTROL_CHAR_UUID, bytes(600), response=True)
                assert client.is_connected
                with pytest.raises(BleakDBusError, match="NotSupported"):
                    await client.start_notify(STATUS_CHAR_UUID, lambda _c, _d: None)
                await client.start_notify(DATA_CHAR_UUID, lambda _c, _d: None)
                with pytest.raises(BleakDBusError, match="InProgress"):
                    await client.start_notify(DATA_CHAR_UUID, lambda _c, _d: None)
                with pytest.raises(BleakError, match="already connected"):
                    await client.connect()

    run(scenario())


def test_closing_the_hub_is_like_unplugging_the_adapter() -> None:
    async def scenario() -> None:
        async with world(SensorConfig()) as (hub, (sensor,)):
            lost = asyncio.Event()
            client = BleakClient(
                await scan_for(hub, sensor), lambda _c: lost.set(), backend=hub.backends.client
            )
            await client.connect()
            await hub.close()
            await asyncio.wait_for(lost.wait(), REPLY_S)
            assert not client.is_connected
            with pytest.raises(BleakError, match="closed"):
                await client.connect()
            with pytest.raises(BleakError, match="closed"):
                await BleakScanner.discover(0.1, backend=hub.backends.scanner)

    run(scenario())
