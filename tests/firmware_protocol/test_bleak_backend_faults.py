"""BlueZ-style transient failures injected into the bumble backend, and the injector itself.

The gateway's retry logic catches bleak's errors; these tests check that injected failures
surface through the real ``BleakClient`` as exactly those errors, leave no half-open link, and
that the next attempt succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import numpy as np
import pytest
from bleak import BleakClient
from bleak.exc import BleakCharacteristicNotFoundError, BleakDBusError, BleakError

from dorsi.firmware_protocol.bleak_backend import (
    BumbleHub,
    FaultInjector,
    FaultPoint,
    bluez_abort_by_local,
    bluez_att_error,
    bluez_in_progress,
    bluez_not_connected,
    bluez_unknown_object,
    device_not_found,
)
from dorsi.firmware_protocol.constants import (
    BATTERY_LEVEL_CHAR_UUID,
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
)
from dorsi.firmware_protocol.status import decode_status
from dorsi.firmware_protocol.virtual.link import VirtualRadio
from dorsi.firmware_protocol.virtual.peripheral import VirtualSensor
from dorsi.firmware_protocol.virtual.source import ArraySource

ADDRESS = "C0:11:22:33:44:55"


def run(coro: Coroutine[Any, Any, None], timeout_s: float = 10.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout_s))


@contextlib.asynccontextmanager
async def world() -> AsyncIterator[tuple[BumbleHub, VirtualSensor]]:
    radio = VirtualRadio()
    t = np.arange(1040) / 104
    source = ArraySource(t, np.tile([0.0, 0.0, 9.81], (t.size, 1)), np.zeros((t.size, 3)))
    async with VirtualSensor.on_radio(radio, source) as sensor, BumbleHub(radio) as hub:
        yield hub, sensor


async def connect_with_retries(client: BleakClient, attempts: int) -> int:
    """A minimal stand-in for the gateway's retry loop: retry on any BleakError."""
    for attempt in range(1, attempts + 1):
        try:
            await client.connect()
            return attempt
        except BleakError:
            await asyncio.sleep(0.01)
    raise AssertionError("never connected")


# --- the injector alone -------------------------------------------------------------------


def test_injector_fires_each_fault_the_given_number_of_times() -> None:
    faults = FaultInjector()
    faults.fail_next(FaultPoint.CONNECT, bluez_in_progress, times=2)
    assert faults.pending(FaultPoint.CONNECT) == 2
    first = faults.take(FaultPoint.CONNECT, ADDRESS)
    second = faults.take(FaultPoint.CONNECT, ADDRESS)
    assert isinstance(first, BleakDBusError)
    assert first.dbus_error == "org.bluez.Error.InProgress"
    assert first is not second  # a factory makes a fresh error each time
    assert faults.take(FaultPoint.CONNECT, ADDRESS) is None
    assert faults.raised == {FaultPoint.CONNECT: 2}
    assert faults.pending() == 0


def test_injector_matches_point_and_address() -> None:
    faults = FaultInjector()
    error = BleakError("boom")
    faults.fail_next(FaultPoint.READ, error, address=ADDRESS.lower())
    assert faults.take(FaultPoint.WRITE, ADDRESS) is None
    assert faults.take(FaultPoint.READ, "C0:00:00:00:00:01") is None
    assert faults.take(FaultPoint.READ, ADDRESS) is error
    faults.stale_services_next()
    assert faults.take(FaultPoint.SERVICES, ADDRESS) is None  # a stale cache is not an error
    assert faults.take_stale_services(ADDRESS) == {SERVICE_UUID}
    assert faults.take_stale_services(ADDRESS) == frozenset()
    faults.fail_next(FaultPoint.WRITE, error)
    faults.clear()
    assert faults.pending() == 0


def test_injector_raises_on_bad_arguments() -> None:
    faults = FaultInjector()
    with pytest.raises(ValueError, match="times"):
        faults.fail_next(FaultPoint.CONNECT, bluez_in_progress, times=0)
    with pytest.raises(ValueError, match="times"):
        faults.stale_services_next(times=0)
    with pytest.raises(ValueError, match="ATT error code"):
        bluez_att_error(0)


def test_canned_errors_read_like_bluez() -> None:
    assert "le-connection-abort-by-local" in str(bluez_abort_by_local())
    assert bluez_not_connected().dbus_error == "org.bluez.Error.NotConnected"
    missing = bluez_unknown_object(ADDRESS)
    assert missing.dbus_error == "org.freedesktop.DBus.Error.UnknownObject"
    assert "dev_C0_11_22_33_44_55" in str(missing)
    assert "ATT error: 0x0e" in str(bluez_att_error(0x0E))
    assert device_not_found(ADDRESS).identifier == ADDRESS


# --- through the real BleakClient ---------------------------------------------------------


def test_in_progress_on_connect_is_a_bleak_error_and_a_retry_connects() -> None:
    async def scenario() -> None:
        async with world() as (hub, sensor):
            hub.faults.fail_next(FaultPoint.CONNECT, bluez_in_progress)
            client = BleakClient(sensor.address, backend=hub.backends.client, timeout=2.0)
            with pytest.raises(BleakDBusError, match=r"org\.bluez\.Error\.InProgress"):
                await client.connect()
            assert not client.is_connected
            assert hub.connections == 0

            hub.faults.fail_next(FaultPoint.CONNECT, bluez_abort_by_local, times=2)
            assert await connect_with_retries(client, attempts=4) == 3
            assert decode_status(await client.read_gatt_char(STATUS_CHAR_UUID)).protocol_version
            await client.disconnect()

    run(scenario())


def test_failure_during_service_discovery_leaves_no_link() -> None:
    async def scenario() -> None:
        async with world() as (hub, sensor):
            calls: list[BleakClient] = []
            client = BleakClient(
                sensor.address, calls.append, backend=hub.backends.client, timeout=2.0
            )
            hub.faults.fail_next(FaultPoint.SERVICES, bluez_not_connected)
            with pytest.raises(BleakDBusError, match="NotConnected"):
                await client.connect()
            await asyncio.sleep(0.05)
            assert not client.is_connected
            assert hub.connections == 0
            assert not sensor.connected
            assert calls == []  # connect() raised; no unsolicited-disconnect callback
            await client.connect()
            assert client.is_connected

    run(scenario())


def test_stale_services_cache_surfaces_as_characteristic_not_found() -> None:
    async def scenario() -> None:
        async with world() as (hub, sensor):
            hub.faults.stale_services_next()
            client = BleakClient(sensor.address, backend=hub.backends.client, timeout=2.0)
            await client.connect()
            assert client.services.get_service(SERVICE_UUID) is None
            assert await client.read_gatt_char(BATTERY_LEVEL_CHAR_UUID) == bytearray([100])
            with pytest.raises(BleakCharacteristicNotFoundError):
                await client.start_notify(DATA_CHAR_UUID, lambda _c, _d: None)
            # recovery as on BlueZ: disconnect and discover afresh
            await client.disconnect()
            await client.connect()
            assert client.services.get_service(SERVICE_UUID) is not None
            await client.start_notify(DATA_CHAR_UUID, lambda _c, _d: None)
            await client.disconnect()

    run(scenario())


@pytest.mark.parametrize(
    ("point", "operation"),
    [
        (FaultPoint.READ, "read"),
        (FaultPoint.WRITE, "write"),
        (FaultPoint.START_NOTIFY, "start_notify"),
        (FaultPoint.STOP_NOTIFY, "stop_notify"),
    ],
)
def test_gatt_operation_faults_raise_once(point: FaultPoint, operation: str) -> None:
    async def do(client: BleakClient) -> None:
        if operation == "read":
            await client.read_gatt_char(STATUS_CHAR_UUID)
        elif operation == "write":
            await client.write_gatt_char(CONTROL_CHAR_UUID, b"\x07\x01\x00", response=True)
        elif operation == "start_notify":
            await client.start_notify(CONTROL_CHAR_UUID, lambda _c, _d: None)
        else:
            await client.stop_notify(CONTROL_CHAR_UUID)

    async def scenario() -> None:
        async with world() as (hub, sensor):
            client = BleakClient(sensor.address, backend=hub.backends.client)
            async with client:
                if operation == "stop_notify":
                    await client.start_notify(CONTROL_CHAR_UUID, lambda _c, _d: None)
                hub.faults.fail_next(point, lambda: bluez_att_error(0x0E), address=sensor.address)
                with pytest.raises(BleakDBusError, match="ATT error: 0x0e"):
                    await do(client)
                await do(client)  # the fault fired once; the link is still up
                assert client.is_connected
                assert hub.faults.raised == {point: 1}

    run(scenario())
