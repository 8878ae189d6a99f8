"""Run the real gateway against virtual brace sensors (no Bluetooth hardware needed).

For demos, the docker-compose ``simulated-gateway`` profile and load tests: every configured
sensor becomes a virtual sensor on an in-process bumble radio, walking a looping simulated
scenario, and the unchanged gateway reaches it through the bumble-backed bleak backend.
Needs the ``sensor`` extra of ``dorsi-firmware-protocol`` (bumble, the simulator).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from dorsi.gateway.config import GatewayConfig
from dorsi.gateway.runner import Gateway

log = logging.getLogger(__name__)

SIMULATED_SECONDS = 600.0
"""Length of the simulated recording each virtual sensor loops over, s."""


class SimulationUnavailableError(RuntimeError):
    """The simulator / virtual sensor extra is not installed."""


async def run_simulated(
    config: GatewayConfig,
    stop: asyncio.Event,
    *,
    scenario: str = "footdrop_mild",
    seed: int = 0,
) -> Gateway:
    """Run ``config``'s gateway against virtual sensors, in real time, until ``stop`` is set."""
    try:
        from dorsi.firmware_protocol import Side
        from dorsi.firmware_protocol.bleak_backend import BumbleHub
        from dorsi.firmware_protocol.sim import simulate
        from dorsi.firmware_protocol.virtual.link import VirtualRadio
        from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
        from dorsi.firmware_protocol.virtual.source import ArraySource
    except ImportError as exc:
        raise SimulationUnavailableError(
            f"simulation needs {exc.name!r}: pip install 'dorsi-firmware-protocol[sensor]'"
        ) from exc

    radio = VirtualRadio()
    sensors = []
    configs = []
    for k, sensor in enumerate(config.sensors):
        rec = simulate(
            scenario,
            seconds=SIMULATED_SECONDS,
            rate_hz=float(sensor.rate_hz),
            side=sensor.side,
            seed=seed + k,
        )
        virtual = VirtualSensor.on_radio(
            radio,
            ArraySource(rec.t, rec.acc_mps2, rec.gyr_dps),
            SensorConfig(
                side=Side.LEFT if sensor.side == "left" else Side.RIGHT,
                rate_hz=sensor.rate_hz,
                loop=True,
            ),
        )
        await virtual.start()
        sensors.append(virtual)
        # The gateway finds its sensor by address (the virtual one advertises its own name).
        configs.append(dataclasses.replace(sensor, address=virtual.address))
        log.info("virtual %s sensor %s for device %s", sensor.side, virtual.name, sensor.device)
    try:
        async with BumbleHub(radio) as hub:
            gateway = Gateway(
                dataclasses.replace(config, sensors=tuple(configs)),
                scanner_backend=hub.backends.scanner,
                client_backend=hub.backends.client,
            )
            await gateway.run(stop)
            return gateway
    finally:
        for virtual in sensors:
            await virtual.close()
