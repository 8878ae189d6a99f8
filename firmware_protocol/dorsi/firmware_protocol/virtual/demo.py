"""The demo central of ``dorsi-sensor serve --demo``: connect, stream, print a line per second.

It does what a gateway does at its simplest: scan, connect, read the sensor, time-sync, start
streaming, count packets, samples and sequence gaps; after an optional forced link loss it
reconnects and BACKFILLs the gap. Output is plain text, one line per second plus a summary.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TextIO

from bumble.device import Device

from dorsi.firmware_protocol.constants import SEQUENCE_MODULUS, TICK_HZ, PacketFlag
from dorsi.firmware_protocol.errors import ProtocolError
from dorsi.firmware_protocol.packets import decode_packet

from .central import CentralError, SensorClient, scan
from .harness import central_device
from .link import VirtualRadio
from .peripheral import VirtualSensor

IDLE_END_S = 1.0
"""The demo ends this long (host s) after the sensor stopped streaming and the queue drained."""


@dataclass
class DemoTally:
    """What the demo central received."""

    packets: int = 0
    samples: int = 0
    backfilled_packets: int = 0
    malformed: int = 0
    gaps: int = 0
    """Sequences found missing on arrival (before any backfill)."""
    recovered: int = 0
    """Missing sequences later received through BACKFILL."""
    link_losses: int = 0
    battery_percent: int | None = None
    seen: set[int] = field(default_factory=set)
    newest_sequence: int | None = None

    @property
    def unrecovered(self) -> int:
        return self.gaps - self.recovered


def _ingest(tally: DemoTally, data: bytes) -> None:
    try:
        packet = decode_packet(data)
    except ProtocolError:
        tally.malformed += 1
        return
    seq = packet.header.sequence
    if seq in tally.seen:
        return  # duplicate: counted once
    tally.seen.add(seq)
    tally.packets += 1
    tally.samples += packet.header.sample_count
    if packet.header.flags & PacketFlag.BACKFILL:
        tally.backfilled_packets += 1
        tally.recovered += 1
        return
    if tally.newest_sequence is not None:
        tally.gaps += (seq - tally.newest_sequence - 1) % SEQUENCE_MODULUS
    tally.newest_sequence = seq


async def run_demo(
    radio: VirtualRadio,
    sensor: VirtualSensor,
    *,
    out: TextIO,
    rate_hz: int,
    drop_at_s: float | None = None,
) -> DemoTally:
    """Drive ``sensor`` from a new central on ``radio`` until its source ends.

    ``drop_at_s``: force one link loss at this device time (s after streaming started), then
    reconnect and backfill the gap.
    """
    tally = DemoTally()
    async with central_device(radio, "dorsi-demo-central") as device:
        found = await scan(device)
        if not found:
            raise CentralError("no dorsi sensor advertising on the virtual link")
        print(
            f"found {found[0].name} at {found[0].address} (RSSI {found[0].rssi_dbm} dBm)", file=out
        )
        client = await SensorClient.connect(device, found[0].address)
        info = await client.read_device_info()
        status = await client.read_status()
        tally.battery_percent = await client.read_battery()
        fw = ".".join(str(p) for p in status.firmware_version)
        print(
            f"connected: MTU {client.mtu}, {info.get('model', '?')} fw {fw}, "
            f"side {status.side.name.lower()}, battery {tally.battery_percent} %",
            file=out,
        )
        for response in (await client.set_rate(rate_hz), await client.time_sync()):
            if not response.ok:
                raise CentralError(f"{response.opcode!r} refused: {response.status.name}")
        await client.start_stream()
        started = sensor.clock.ticks()
        t0 = time.monotonic()
        next_line = t0 + 1.0
        idle_since: float | None = None
        dropped = drop_at_s is None
        while True:
            _drain(client, tally)
            now = time.monotonic()
            if not dropped and (sensor.clock.ticks() - started) / TICK_HZ >= (drop_at_s or 0):
                dropped = True
                client = await _lose_and_recover(device, client, sensor, tally, out)
            if now >= next_line:
                _print_line(out, now - t0, tally)
                next_line += 1.0
            if sensor.streaming or not client.packets.empty():
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= IDLE_END_S:
                break
            await asyncio.sleep(0.05)
        await client.disconnect()
        elapsed = time.monotonic() - t0
    print(
        f"done: {tally.packets} packets, {tally.samples} samples in {elapsed:.1f} s "
        f"({tally.packets / max(elapsed, 1e-9):.0f} packets/s); gaps {tally.gaps}, "
        f"backfilled {tally.recovered}, unrecovered {tally.unrecovered}, "
        f"malformed {tally.malformed}, link losses {tally.link_losses}",
        file=out,
    )
    return tally


def _drain(client: SensorClient, tally: DemoTally) -> None:
    while not client.packets.empty():
        _t, data = client.packets.get_nowait()
        _ingest(tally, data)
    while not client.battery_notifications.empty():
        tally.battery_percent = client.battery_notifications.get_nowait()


async def _lose_and_recover(
    device: Device,
    client: SensorClient,
    sensor: VirtualSensor,
    tally: DemoTally,
    out: TextIO,
) -> SensorClient:
    _drain(client, tally)
    sensor.drop_link()
    tally.link_losses += 1
    await asyncio.wait_for(client.disconnected.wait(), 2.0)
    print("link lost (forced); reconnecting …", file=out)
    await asyncio.sleep(0.5)
    client = await SensorClient.connect(device, sensor.address)
    first = await client.next_packet(timeout_s=5.0)
    last_before = tally.newest_sequence
    _ingest(tally, first)
    if last_before is not None and tally.newest_sequence is not None:
        missing = (tally.newest_sequence - last_before - 1) % SEQUENCE_MODULUS
        if missing:
            response = await client.backfill((last_before + 1) % SEQUENCE_MODULUS, missing)
            print(f"reconnected; backfill of {missing} packets: {response.status.name}", file=out)
    return client


def _print_line(out: TextIO, elapsed_s: float, tally: DemoTally) -> None:
    battery = "?" if tally.battery_percent is None else f"{tally.battery_percent} %"
    print(
        f"{elapsed_s:6.1f} s  packets {tally.packets:6d}  samples {tally.samples:7d}  "
        f"gaps {tally.gaps:3d} (backfilled {tally.recovered})  battery {battery}",
        file=out,
        flush=True,
    )
