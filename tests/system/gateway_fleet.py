"""A fleet of virtual braces and real gateways in one process, for the no-loss system test.

Each sensor walks a looping simulated foot-drop scenario in time-lapse on a VirtualRadio (real
bleak code over bumble); each has its own Gateway (own patient, own state_dir) publishing to the
broker. At seeded random moments every BLE link drops ``--link-drops`` times, and gateway
``--restart`` (if ≥ 0) is stopped gracefully and replaced by a new Gateway on the same state_dir.
Every stride the pipelines put into their outboxes is noted (``Outbox.put`` wrapped); at the
end (after ``--stream-s``, once ``--target`` strides are produced or ``--max-stream-s``
passed: the machine may be shared) the fleet stops its gateways gracefully and writes a JSON
report to ``--out``.

    python tests/system/gateway_fleet.py --port P --root DIR --first 0 --count 5 --out F.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

from dorsi.firmware_protocol import Side
from dorsi.firmware_protocol.bleak_backend import BumbleHub
from dorsi.firmware_protocol.sim import simulate
from dorsi.firmware_protocol.virtual.link import VirtualRadio
from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
from dorsi.firmware_protocol.virtual.source import ArraySource
from dorsi.gateway.config import parse_config
from dorsi.gateway.outbox import Outbox
from dorsi.gateway.runner import Gateway


class TimeLapseClock:
    """Host UTC as the gateways see it, running ``speed`` times faster, like the device clocks.

    Starts an hour in the past, so that time-lapsed strides are never "in the future" for the
    server's validation.
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.m0 = time.monotonic()
        self.utc0 = time.time() - 3600.0

    def __call__(self) -> float:
        return self.utc0 + (time.monotonic() - self.m0) * self.speed


def record_outbox_puts(produced: list[list[Any]]) -> None:
    """Wrap ``Outbox.put`` (every gateway, also a restarted one): note [patient, device, side,
    ic_t] of each stride once it is durably stored."""
    original = Outbox.put

    def put(self: Outbox, topic: str, payload: bytes, **kw: Any) -> int:
        message_id = original(self, topic, payload, **kw)
        if kw.get("kind") == "stride":
            body = json.loads(payload)
            produced.extend(
                [body["patient"], body["device"], body["side"], s["ic_t"]] for s in body["strides"]
            )
        return message_id

    Outbox.put = put  # type: ignore[method-assign]


async def run_fleet(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    produced: list[list[Any]] = []
    record_outbox_puts(produced)
    indices = range(args.first, args.first + args.count)
    sides = {i: "left" if i % 2 == 0 else "right" for i in indices}
    walks = {
        i: simulate(
            "footdrop_mild",
            seconds=args.walk_s,
            rate_hz=float(args.rate),
            side=sides[i],
            seed=args.seed + i,
        )
        for i in indices
    }
    log: list[str] = []
    drops = 0
    restarts = 0
    final_backlogs: list[int] = []
    radio = VirtualRadio()
    clock = TimeLapseClock(args.speed)
    sensors: dict[int, VirtualSensor] = {}
    for i in indices:
        rec = walks[i]
        sensors[i] = VirtualSensor.on_radio(
            radio,
            ArraySource(rec.t, rec.acc_mps2, rec.gyr_dps),
            SensorConfig(
                side=Side.LEFT if sides[i] == "left" else Side.RIGHT,
                rate_hz=args.rate,
                speed=args.speed,
                loop=True,
            ),
        )
        await sensors[i].start()
    try:
        async with BumbleHub(radio) as hub:
            configs = {
                i: parse_config(
                    {
                        "gateway_id": f"gw-nl-{i:02d}",
                        "patient": f"p-nl-{i:02d}",
                        "state_dir": str(Path(args.root) / f"gw-{i:02d}"),
                        "broker": {"url": f"mqtt://127.0.0.1:{args.port}"},
                        "sensors": [
                            {
                                "device": sensors[i].name,
                                "side": sides[i],
                                "mounting": "body",
                                "rate_hz": args.rate,
                            }
                        ],
                    },
                    env={},
                )
                for i in indices
            }
            gateways: dict[int, Gateway] = {}
            stops: dict[int, asyncio.Event] = {}
            tasks: dict[int, asyncio.Task[None]] = {}

            def launch(i: int) -> None:
                gateways[i] = Gateway(
                    configs[i],
                    scanner_backend=hub.backends.scanner,
                    client_backend=hub.backends.client,
                    wall_clock=clock,
                )
                stops[i] = asyncio.Event()
                tasks[i] = asyncio.create_task(gateways[i].run(stops[i]))

            for i in indices:
                launch(i)
            t0 = time.monotonic()
            events: list[tuple[float, str, int]] = [
                (rng.uniform(5, args.stream_s - 10), "link_drop", i)
                for i in indices
                for _ in range(args.link_drops)
            ]
            if args.restart >= 0:
                at = rng.uniform(25, args.stream_s - 30)
                events.append((at, "gateway_restart", args.restart))
            for at, fault, i in sorted(events):
                await asyncio.sleep(max(0.0, at - (time.monotonic() - t0)))
                log.append(f"{time.monotonic() - t0:6.1f} s {fault} gw-nl-{i:02d}")
                if fault == "link_drop":
                    deadline = time.monotonic() + 30.0  # a link still reconnecting: wait for it
                    while not (dropped := sensors[i].drop_link()) and time.monotonic() < deadline:
                        await asyncio.sleep(0.2)
                    drops += dropped > 0
                    if not dropped:
                        log.append(f"{time.monotonic() - t0:6.1f} s link of gw-nl-{i:02d} not up")
                else:
                    stops[i].set()
                    await asyncio.wait_for(tasks[i], timeout=30)
                    final_backlogs.append(gateways[i].sessions[0]._final_backlog)
                    await asyncio.sleep(2.0)  # ≈ 20 s of walking go only into the ring buffer
                    launch(i)
                    restarts += 1
            await asyncio.sleep(max(0.0, args.stream_s - (time.monotonic() - t0)))
            while len({tuple(p) for p in produced}) < args.target:
                if time.monotonic() - t0 > args.max_stream_s:
                    break
                await asyncio.sleep(0.5)
            log.append(f"{time.monotonic() - t0:6.1f} s fleet stops")
            for stop in stops.values():
                stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks.values()), timeout=60)
            final_backlogs.extend(g.sessions[0]._final_backlog for g in gateways.values())
            stats = {
                g.config.gateway_id: {
                    k: v
                    for k, v in vars(g.sessions[0].pipeline.stats).items()
                    if isinstance(v, int)
                }
                for g in gateways.values()
            }
    finally:
        for sensor in sensors.values():
            await sensor.close()
    return {
        "produced": produced,
        "link_drops": drops,
        "gateway_restarts": restarts,
        "final_backlogs": final_backlogs,
        "log": log,
        "pipeline_stats": stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=52, choices=[26, 52, 104, 208])
    parser.add_argument("--walk-s", type=float, default=400.0)
    parser.add_argument("--stream-s", type=float, default=160.0)
    parser.add_argument("--target", type=int, default=0, help="strides to produce at least")
    parser.add_argument("--max-stream-s", type=float, default=300.0)
    parser.add_argument("--link-drops", type=int, default=5)
    parser.add_argument("--restart", type=int, default=-1, help="index of a gateway to restart")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    report = asyncio.run(run_fleet(args))
    Path(args.out).write_text(json.dumps(report))


if __name__ == "__main__":
    main()
