"""Real ``bleak.BleakScanner`` over the bumble backend: discovering virtual brace sensors.

Every test runs its own event loop with a hard timeout; sensors and the gateway's central share
one in-process ``VirtualRadio``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import numpy as np
import pytest
from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bumble.core import AdvertisingData

from dorsi.firmware_protocol.bleak_backend import BumbleDeviceDetails, BumbleHub, BumbleScanner
from dorsi.firmware_protocol.constants import BATTERY_SERVICE_UUID, SERVICE_UUID, Side
from dorsi.firmware_protocol.virtual.link import VirtualRadio
from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
from dorsi.firmware_protocol.virtual.source import ArraySource

SCAN_S = 0.3  # sensors advertise every 20 ms


def run(coro: Coroutine[Any, Any, None], timeout_s: float = 10.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout_s))


def still_source(seconds: float = 10.0, rate_hz: int = 104) -> ArraySource:
    """A brace at rest: gravity on +z, no rotation."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    acc = np.zeros((t.size, 3))
    acc[:, 2] = 9.81
    return ArraySource(t, acc, np.zeros((t.size, 3)))


@contextlib.asynccontextmanager
async def world(*sides: Side) -> AsyncIterator[tuple[VirtualRadio, BumbleHub, list[VirtualSensor]]]:
    """Started sensors (one per side) and a started hub on one radio."""
    radio = VirtualRadio()
    async with contextlib.AsyncExitStack() as stack:
        sensors = []
        for side in sides:
            sensor = VirtualSensor.on_radio(radio, still_source(), SensorConfig(side=side))
            sensors.append(await stack.enter_async_context(sensor))
        hub = await stack.enter_async_context(BumbleHub(radio))
        yield radio, hub, sensors


async def other_advertiser(radio: VirtualRadio) -> None:
    """A non-dorsi peripheral (a heart-rate strap, say) advertising its own service."""
    device = radio.add_device("strap")
    await device.power_on()
    adv = AdvertisingData(
        [
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, bytes([0x0D, 0x18])),
            (AdvertisingData.COMPLETE_LOCAL_NAME, b"strap"),
            (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, bytes([0x59, 0x00, 1, 2])),
            (AdvertisingData.TX_POWER_LEVEL, bytes([0xF8])),
        ]
    )
    await device.start_advertising(
        advertising_data=bytes(adv), advertising_interval_min=20.0, advertising_interval_max=20.0
    )


def test_discover_by_service_uuid_finds_only_sensors() -> None:
    async def scenario() -> None:
        async with world(Side.LEFT) as (radio, hub, (sensor,)):
            await other_advertiser(radio)
            found = await BleakScanner.discover(
                SCAN_S, service_uuids=[SERVICE_UUID], return_adv=True, backend=hub.backends.scanner
            )
            assert list(found) == [sensor.address]
            device, adv = found[sensor.address]
            assert device.name == sensor.name == adv.local_name
            assert sensor.name.startswith("dorsi-")
            assert adv.service_uuids == [SERVICE_UUID]
            assert adv.rssi == -50  # bumble's emulated controller reports a fixed RSSI
            assert isinstance(device.details, BumbleDeviceDetails)

            everything = await BleakScanner.discover(
                SCAN_S, return_adv=True, backend=hub.backends.scanner
            )
            assert len(everything) == 2
            strap = next(adv for _, adv in everything.values() if adv.local_name == "strap")
            assert strap.service_uuids == ["0000180d-0000-1000-8000-00805f9b34fb"]
            assert strap.manufacturer_data == {0x0059: b"\x01\x02"}
            assert strap.tx_power == -8

    run(scenario())


def test_discover_with_another_uuid_finds_nothing() -> None:
    async def scenario() -> None:
        async with world(Side.LEFT) as (_, hub, _sensors):
            found = await BleakScanner.discover(
                SCAN_S, service_uuids=[BATTERY_SERVICE_UUID], backend=hub.backends.scanner
            )
            assert found == []

    run(scenario())


def test_rssi_override_shows_in_advertisement_data() -> None:
    async def scenario() -> None:
        async with world(Side.LEFT) as (_, hub, (sensor,)):
            hub.set_rssi(sensor.address, -81)
            found = await BleakScanner.discover(
                SCAN_S, return_adv=True, backend=hub.backends.scanner
            )
            assert found[sensor.address][1].rssi == -81
            with pytest.raises(ValueError, match="RSSI"):
                hub.set_rssi(sensor.address, 50)

    run(scenario())


def test_find_device_by_filter_and_address() -> None:
    async def scenario() -> None:
        async with world(Side.LEFT, Side.RIGHT) as (_, hub, (left, right)):
            scanner = hub.backends.scanner
            device = await BleakScanner.find_device_by_filter(
                lambda d, ad: ad.local_name == right.name, timeout=2.0, backend=scanner
            )
            assert device is not None
            assert device.address == right.address
            by_address = await BleakScanner.find_device_by_address(
                left.address.lower(), timeout=2.0, backend=scanner
            )
            assert by_address is not None
            assert by_address.name == left.name
            missing = await BleakScanner.find_device_by_name(
                "dorsi-0000", timeout=0.3, backend=scanner
            )
            assert missing is None

    run(scenario())


def test_detection_callback_and_concurrent_scanners() -> None:
    async def scenario() -> None:
        async with world(Side.LEFT) as (_, hub, (sensor,)):
            seen: list[tuple[BLEDevice, AdvertisementData]] = []
            first = BleakScanner(
                lambda d, ad: seen.append((d, ad)),
                service_uuids=[SERVICE_UUID],
                backend=hub.backends.scanner,
            )
            async with first:
                second = await BleakScanner.discover(SCAN_S, backend=hub.backends.scanner)
                assert hub.device.is_scanning  # the first scanner still runs
            assert [d.address for d in second] == [sensor.address]
            assert len(seen) >= 3  # duplicates are reported, as BlueZ does
            assert {d.address for d, _ in seen} == {sensor.address}
            assert not hub.device.is_scanning
            assert first.backend_id == "BumbleScanner"

    run(scenario())


def test_unbound_scanner_class_is_refused() -> None:
    with pytest.raises(BleakError, match="make_backends"):
        BleakScanner(backend=BumbleScanner)
