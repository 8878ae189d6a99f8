"""``dorsi-sensor serve``: run a virtual brace sensor (and, by default, a demo central).

Heavy imports (numpy, bumble) happen in :func:`run`, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

SCENARIOS = ("healthy", "footdrop_mild", "footdrop_severe", "mixed_day")
RATES_HZ = (26, 52, 104, 208)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``serve`` on the ``dorsi-sensor`` subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve a simulated walk or a CSV recording from a virtual BLE brace sensor",
        description=(
            "Run a virtual dorsi brace sensor (bumble GATT peripheral) on an in-process BLE "
            "link and, with --demo (the default), a central that connects, streams and prints "
            "a line per second. With --hci the sensor uses a real Bluetooth controller instead."
        ),
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="footdrop_mild",
        help="simulated walk to stream (default: %(default)s)",
    )
    src.add_argument("--csv", type=Path, metavar="FILE", help="stream an imu.csv recording instead")
    p.add_argument("--rate", type=int, choices=RATES_HZ, default=104, help="Hz (default: 104)")
    p.add_argument("--side", choices=("left", "right"), default="left")
    p.add_argument(
        "--seconds", type=float, default=60.0, help="simulated walk length, s (default: 60)"
    )
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default: 0)")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="time-lapse factor: 10 streams 10 s of walk per second (default: 1, real time)",
    )
    p.add_argument("--loop", action="store_true", help="replay the source when it ends")
    p.add_argument("--drift-ppm", type=float, default=0.0, help="device clock error, ppm")
    p.add_argument("--battery", type=int, default=100, help="battery level, %% (default: 100)")
    p.add_argument("--address", help="random static BLE address (default: random)")
    p.add_argument(
        "--demo",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the demo central over the virtual link (default: on without --hci)",
    )
    p.add_argument(
        "--drop-at",
        type=float,
        metavar="S",
        help="demo: force a link loss S device-seconds into the stream, then backfill",
    )
    p.add_argument(
        "--hci",
        metavar="TRANSPORT",
        help="serve on a real controller via a bumble transport (e.g. usb:0, serial:/dev/ttyACM0)",
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``serve``; returns the process exit code (2 for bad input)."""
    demo = args.hci is None if args.demo is None else bool(args.demo)
    problem = _check(args, demo)
    if problem:
        print(f"dorsi-sensor serve: {problem}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args, demo))
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as exc:
        print(f"dorsi-sensor serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _check(args: argparse.Namespace, demo: bool) -> str | None:
    if not args.speed > 0:
        return f"--speed must be > 0, got {args.speed}"
    if not args.seconds > 0:
        return f"--seconds must be > 0, got {args.seconds}"
    if not 0 <= args.battery <= 100:
        return f"--battery must be 0..100, got {args.battery}"
    if args.csv is not None and not args.csv.is_file():
        return f"--csv {args.csv}: no such file"
    if demo and args.hci is not None:
        return "--demo runs over the in-process link; it cannot be combined with --hci"
    if args.drop_at is not None and not demo:
        return "--drop-at needs the demo central (--demo)"
    return None


async def _serve(args: argparse.Namespace, demo: bool) -> None:
    from dorsi.firmware_protocol.constants import Side

    from .peripheral import SensorConfig
    from .source import SampleSource, SimulatedSource, csv_source

    source: SampleSource
    if args.csv is not None:
        source = csv_source(args.csv)
        what = str(args.csv)
    else:
        source = SimulatedSource(
            args.scenario, seconds=args.seconds, side=args.side, seed=args.seed
        )
        what = f"simulated {args.scenario} walk, {args.seconds:g} s, {args.side} foot"
    source.at_rate(args.rate)  # fail early on a bad recording or scenario
    config = SensorConfig(
        side=Side.LEFT if args.side == "left" else Side.RIGHT,
        rate_hz=args.rate,
        speed=args.speed,
        loop=args.loop,
        drift_ppm=args.drift_ppm,
        battery_percent=args.battery,
    )
    if args.hci is not None:
        await _serve_on_hci(args.hci, source, config, args.address, what)
        return
    from .demo import run_demo
    from .harness import running_sensor

    async with running_sensor(source, config, address=args.address) as (radio, sensor):
        print(f"{sensor.name} ({sensor.address}) serving {what} at {args.rate} Hz", flush=True)
        if demo:
            await run_demo(radio, sensor, out=sys.stdout, rate_hz=args.rate, drop_at_s=args.drop_at)
        else:
            await asyncio.Event().wait()  # in-process only: until Ctrl-C


async def _serve_on_hci(
    transport: str, source: Any, config: Any, address: str | None, what: str
) -> None:
    from bumble.device import Device
    from bumble.hci import Address
    from bumble.transport import open_transport

    from .link import random_static_address
    from .peripheral import VirtualSensor, advertised_name

    address = address or random_static_address()
    async with await open_transport(transport) as hci:
        device = Device.with_hci(
            advertised_name(address),
            Address(address, Address.RANDOM_DEVICE_ADDRESS),
            hci.source,
            hci.sink,
        )
        async with VirtualSensor(device, source, config) as sensor:
            print(f"{sensor.name} ({address}) serving {what} on {transport}", flush=True)
            await asyncio.Event().wait()
