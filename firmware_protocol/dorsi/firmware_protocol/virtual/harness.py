"""Ready-made in-process setups: a virtual sensor on a virtual radio, and centrals to reach it.

For tests, the demo and the gateway's bleak-on-bumble backend::

    async with running_sensor(source, config) as (radio, sensor):
        async with connected_client(radio, sensor) as client:
            await client.start_stream()
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from bumble.device import Device

from .central import ATT_MTU, SensorClient
from .link import VirtualRadio
from .peripheral import SensorConfig, VirtualSensor
from .source import SampleSource


@asynccontextmanager
async def running_sensor(
    source: SampleSource,
    config: SensorConfig | None = None,
    *,
    radio: VirtualRadio | None = None,
    address: str | None = None,
    now_s: Callable[[], float] = time.monotonic,
) -> AsyncIterator[tuple[VirtualRadio, VirtualSensor]]:
    """A started, advertising virtual sensor on ``radio`` (a new radio when None)."""
    radio = radio or VirtualRadio()
    sensor = VirtualSensor.on_radio(radio, source, config, address=address, now_s=now_s)
    await sensor.start()
    try:
        yield radio, sensor
    finally:
        await sensor.close()


@asynccontextmanager
async def central_device(radio: VirtualRadio, name: str = "dorsi-central") -> AsyncIterator[Device]:
    """A powered-on bumble central host on ``radio``."""
    device = radio.add_device(name)
    await device.power_on()
    try:
        yield device
    finally:
        radio.remove_device(device)


@asynccontextmanager
async def connected_client(
    radio: VirtualRadio, sensor: VirtualSensor, *, mtu: int = ATT_MTU
) -> AsyncIterator[SensorClient]:
    """A new central connected (ATT ``mtu``, subscribed) to ``sensor``; disconnects at exit."""
    async with central_device(radio) as device:
        client = await SensorClient.connect(device, sensor.address, mtu=mtu)
        try:
            yield client
        finally:
            await client.disconnect()
