"""The virtual brace sensor over bumble's in-process link, driven by the bumble central.

Every test runs its own event loop with a hard timeout. Expected int16 counts are computed here
from SPEC's conversion (counts = round(SI × 32768 / full scale), saturated), not by the sensor.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from dorsi.firmware_protocol.constants import (
    SERVICE_UUID,
    TICK_HZ,
    AccRange,
    GyroRange,
    Opcode,
    PacketFlag,
    SampleRate,
    Side,
    Status,
)
from dorsi.firmware_protocol.control import BackfillPayload, ControlRequest, TimeSyncPayload
from dorsi.firmware_protocol.errors import ProtocolError
from dorsi.firmware_protocol.packets import ImuPacket, decode_packet, samples_per_live_packet
from dorsi.firmware_protocol.virtual.central import CentralError, SensorClient, scan
from dorsi.firmware_protocol.virtual.harness import (
    central_device,
    connected_client,
    running_sensor,
)
from dorsi.firmware_protocol.virtual.peripheral import SensorConfig
from dorsi.firmware_protocol.virtual.source import ArraySource

G = 9.80665
RATE_HZ = 104
SPEED = 25.0  # device time runs 25× faster: ~140 packets/s at 104 Hz


def run(coro: Coroutine[Any, Any, None], timeout_s: float = 15.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout_s))


def walk_like(seconds: float = 120.0, rate_hz: float = RATE_HZ, seed: int = 0) -> ArraySource:
    """A reproducible foot-IMU-like signal: gravity on z, strides at ~1 Hz, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    phase = 2 * np.pi * 0.95 * t
    acc = np.column_stack(
        [3 * np.sin(phase), 0.5 * np.cos(phase), G + 4 * np.sin(2 * phase)]
    ) + rng.normal(0, 0.2, (t.size, 3))
    gyr = np.column_stack(
        [20 * np.sin(phase), -300 * np.sin(phase + 0.3), 15 * np.cos(phase)]
    ) + rng.normal(0, 1.0, (t.size, 3))
    return ArraySource(t, acc, gyr)


def expected_counts(
    source: ArraySource, rate_hz: int, acc_fs_g: float, gyr_fs_dps: float
) -> NDArray[np.int64]:
    block = source.at_rate(rate_hz)
    acc = np.rint(block.acc_mps2 * 32768 / (acc_fs_g * G))
    gyr = np.rint(block.gyr_dps * 32768 / gyr_fs_dps)
    counts: NDArray[np.int64] = np.clip(np.hstack([acc, gyr]), -32768, 32767).astype(np.int64)
    return counts


def counts_of(packets: list[ImuPacket]) -> NDArray[np.int64]:
    return np.array([s for p in packets for s in p.samples], dtype=np.int64)


async def receive(client: SensorClient, n: int, timeout_s: float = 5.0) -> list[ImuPacket]:
    return [decode_packet(await client.next_packet(timeout_s=timeout_s)) for _ in range(n)]


def config(**kw: Any) -> SensorConfig:
    return SensorConfig(**({"speed": SPEED} | kw))


def test_scan_connect_and_read_everything() -> None:
    async def main() -> None:
        cfg = config(side=Side.RIGHT, firmware_version=(1, 2, 3), battery_percent=87)
        async with running_sensor(walk_like(), cfg) as (radio, sensor):
            async with central_device(radio) as device:
                found = await scan(device, timeout_s=3.0)
            assert [s.address for s in found] == [sensor.address]
            assert found[0].name == sensor.name
            assert sensor.name.startswith("dorsi-")
            assert len(sensor.name) == 10
            assert sensor.name[-4:] == sensor.address.replace(":", "")[-4:]
            async with connected_client(radio, sensor) as client:
                assert client.mtu == 247
                status = await client.read_status()
                assert status.side == Side.RIGHT
                assert status.firmware_version == (1, 2, 3)
                assert status.sample_rate.hz == RATE_HZ
                assert (status.acc_range, status.gyro_range) == (AccRange.G16, GyroRange.DPS2000)
                assert not status.streaming
                assert not status.time_synced
                assert status.next_sequence == 0
                assert status.ring_capacity_packets == cfg.ring_capacity_packets
                assert await client.read_battery() == 87
                info = await client.read_device_info()
                assert info["firmware_revision"] == "1.2.3"
                assert info["serial_number"] == sensor.name.removeprefix("dorsi-")
                assert set(info) >= {"manufacturer", "model", "hardware_revision"}
                await sensor.set_battery_level(42)  # tests drain it at will
                assert await asyncio.wait_for(client.battery_notifications.get(), 2) == 42
                assert await client.read_battery() == 42

    run(main())


def test_stream_delivers_the_source_samples_in_order() -> None:
    source = walk_like()
    expected = expected_counts(source, RATE_HZ, 16, 2000)

    async def main() -> None:
        async with (
            running_sensor(source, config()) as (radio, sensor),
            connected_client(radio, sensor) as client,
        ):
            assert (await client.start_stream()).status == Status.OK
            packets = await receive(client, 40)
            assert (await client.stop_stream()).status == Status.OK
            assert not (await client.read_status()).streaming
        seqs = [p.header.sequence for p in packets]
        assert seqs == list(range(40))
        per_packet = samples_per_live_packet(RATE_HZ, 247)  # SPEC §4.4: ≤ 0.1 s per live packet
        assert per_packet == min(19, RATE_HZ // 10)
        assert all(p.header.sample_count == per_packet for p in packets)
        assert [bool(p.header.flags & PacketFlag.STREAM_START) for p in packets[:2]] == [1, 0]
        assert not any(p.header.flags & PacketFlag.BACKFILL for p in packets)
        got = counts_of(packets)
        np.testing.assert_array_equal(got, expected[: len(got)])
        step = [b.header.t0_ticks - a.header.t0_ticks for a, b in itertools.pairwise(packets)]
        assert all(abs(s - per_packet * TICK_HZ / RATE_HZ) <= 1 for s in step)

    run(main())


def test_set_rate_and_ranges_change_packets_and_quantisation() -> None:
    source = walk_like()

    async def main() -> None:
        async with (
            running_sensor(source, config()) as (radio, sensor),
            connected_client(radio, sensor) as client,
        ):
            assert (await client.set_rate(208)).status == Status.OK
            ranges = await client.set_ranges(AccRange.G2, GyroRange.DPS250)
            assert ranges.status == Status.OK
            status = await client.read_status()
            assert status.sample_rate == SampleRate.HZ_208
            assert (status.acc_range, status.gyro_range) == (AccRange.G2, GyroRange.DPS250)
            await client.start_stream()
            packets = await receive(client, 30)
            # the device refuses reconfiguration mid-stream
            assert (await client.set_rate(52)).status == Status.INVALID_STATE
            busy = await client.set_ranges(AccRange.G8, GyroRange.DPS500)
            assert busy.status == Status.INVALID_STATE
        assert {p.header.sample_rate for p in packets} == {SampleRate.HZ_208}
        assert {(p.header.acc_range, p.header.gyro_range) for p in packets} == {
            (AccRange.G2, GyroRange.DPS250)
        }
        expected = expected_counts(source, 208, 2, 250)
        got = counts_of(packets)
        np.testing.assert_array_equal(got, expected[: len(got)])
        offset = 0
        for p in packets:  # CLIPPED exactly where a count saturated
            rows = expected[offset : offset + p.header.sample_count]
            offset += p.header.sample_count
            saturated = bool(np.any((rows == 32767) | (rows == -32768)))
            assert bool(p.header.flags & PacketFlag.CLIPPED) == saturated
        assert any(p.header.flags & PacketFlag.CLIPPED for p in packets)
        assert not all(p.header.flags & PacketFlag.CLIPPED for p in packets)

    run(main())


def test_time_sync_reports_a_drifting_offset_clock() -> None:
    host = [1000.0]  # fake host monotonic clock (s)
    drift_ppm, offset = 80.0, 7_000_000_000

    async def main() -> None:
        cfg = SensorConfig(drift_ppm=drift_ppm, tick_offset=offset)
        async with (
            running_sensor(walk_like(), cfg, now_s=lambda: host[0]) as (radio, sensor),
            connected_client(radio, sensor) as client,
        ):
            first = await client.time_sync(host_time_us=1_700_000_000_000_000)
            host[0] += 6 * 3600.0
            second = await client.time_sync(host_time_us=1_700_021_600_000_000)
            assert (await client.read_status()).time_synced
        assert isinstance(first.payload, TimeSyncPayload)
        assert isinstance(second.payload, TimeSyncPayload)
        assert first.payload.host_time_us == 1_700_000_000_000_000  # echoed
        assert first.payload.device_ticks == offset
        elapsed_ticks = second.payload.device_ticks - first.payload.device_ticks
        measured_ppm = (elapsed_ticks / (6 * 3600.0 * TICK_HZ) - 1) * 1e6
        assert measured_ppm == pytest.approx(drift_ppm, abs=0.01)

    run(main())


def test_link_loss_then_backfill_recovers_every_sample_once() -> None:
    source = walk_like()
    expected = expected_counts(source, RATE_HZ, 16, 2000)

    async def main() -> None:
        async with running_sensor(source, config()) as (radio, sensor):
            async with connected_client(radio, sensor) as client:
                await client.time_sync()
                await client.start_stream()
                before = await receive(client, 20)
                assert sensor.drop_link() == 2  # both ends closed
                await asyncio.wait_for(client.disconnected.wait(), 2)
                assert not sensor.connected
            await asyncio.sleep(0.4)  # the sensor keeps sampling into its ring
            assert sensor.streaming
            async with connected_client(radio, sensor) as client:
                live = await receive(client, 1)
                first_live = live[0].header.sequence
                missing = first_live - 20
                assert missing > 5
                response = await client.backfill(20, missing)
                assert response.status == Status.OK
                assert isinstance(response.payload, BackfillPayload)
                assert (response.payload.first_sequence, response.payload.count) == (20, missing)
                packets = before + live
                backfilled = 0
                while backfilled < missing:  # live packets keep interleaving
                    packets += await receive(client, 1)
                    backfilled += bool(packets[-1].header.flags & PacketFlag.BACKFILL)
                packets += await receive(client, 5)
        assert sum(bool(p.header.flags & PacketFlag.BACKFILL) for p in packets) == missing
        by_seq: dict[int, ImuPacket] = {}
        for p in packets:
            assert p.header.sequence not in by_seq, "duplicate sequence"
            by_seq[p.header.sequence] = p
        seqs = sorted(by_seq)
        assert seqs == list(range(len(seqs)))
        got = counts_of([by_seq[s] for s in seqs])
        np.testing.assert_array_equal(got, expected[: len(got)])

    run(main())


def test_backfill_errors() -> None:
    async def main() -> None:
        cfg = config(ring_capacity_packets=10)
        async with running_sensor(walk_like(), cfg) as (radio, sensor):
            async with connected_client(radio, sensor) as client:
                empty = await client.backfill(0, 5)
                assert empty.status == Status.BACKFILL_UNAVAILABLE
                await client.start_stream()
                await receive(client, 30)
                gone = await client.backfill(0, 5)  # overwritten long ago
                assert gone.status == Status.BACKFILL_UNAVAILABLE
                partial = await client.backfill(10, 30)
                assert partial.status == Status.OK
                assert isinstance(partial.payload, BackfillPayload)
                assert partial.payload.first_sequence > 10
                assert partial.payload.count <= 10
                await client.stop_stream()
                recent = sensor.ring.newest_sequence
                assert recent is not None
            async with connected_client(radio, sensor, mtu=100) as small:
                too_big = await small.backfill(recent, 1)  # stored 19-sample packets
                assert too_big.status == Status.MTU_TOO_SMALL

    run(main())


def test_second_backfill_while_resending_is_busy() -> None:
    async def main() -> None:
        cfg = config(speed=200.0, rate_hz=208)
        async with (
            running_sensor(walk_like(seconds=300.0), cfg) as (radio, sensor),
            connected_client(radio, sensor) as client,
        ):
            await client.start_stream()
            while sensor.stats.packets_built < 800:
                await asyncio.sleep(0.02)
            await client.stop_stream()
            first = await client.backfill(0, 800)
            assert first.status == Status.OK
            assert (await client.backfill(0, 5)).status == Status.BUSY

    run(main())


def test_battery_drains_with_device_time() -> None:
    host = [0.0]

    async def main() -> None:
        cfg = SensorConfig(battery_percent=80, battery_drain_percent_per_hour=10.0)
        async with (
            running_sensor(walk_like(), cfg, now_s=lambda: host[0]) as (radio, sensor),
            connected_client(radio, sensor) as client,
        ):
            assert await client.read_battery() == 80
            host[0] += 1800.0  # half an hour
            assert await asyncio.wait_for(client.battery_notifications.get(), 3) == 75
            assert await client.read_battery() == 75

    run(main())


def test_link_lost_during_a_response_does_not_stall_the_control_point() -> None:
    async def main() -> None:
        async with running_sensor(walk_like(), config()) as (radio, sensor):
            indicate = sensor.device.indicate_subscriber
            dropped: list[int] = []

            async def drop_then_indicate(*args: Any, **kwargs: Any) -> None:
                if not dropped:  # the link dies just as the first response goes out
                    dropped.append(sensor.drop_link())
                await indicate(*args, **kwargs)  # bumble would wait 30 s for a confirmation

            sensor.device.indicate_subscriber = drop_then_indicate  # type: ignore[method-assign]
            async with connected_client(radio, sensor) as client:
                with pytest.raises(CentralError):
                    await client.request(ControlRequest.identify(1, 1), timeout_s=0.3)
            assert dropped == [2]
            async with connected_client(radio, sensor) as client:
                response = await client.request(ControlRequest.identify(2, 1), timeout_s=1.0)
                assert response.status == Status.OK

    run(main())


def test_reboot_resets_ticks_sequence_and_ring() -> None:
    async def main() -> None:
        cfg = config(tick_offset=10 * TICK_HZ)
        async with running_sensor(walk_like(), cfg) as (radio, sensor):
            async with connected_client(radio, sensor) as client:
                await client.time_sync()
                await client.set_rate(52)
                await client.start_stream()
                before = await receive(client, 10)
                await sensor.reboot()
                await asyncio.wait_for(client.disconnected.wait(), 2)
            async with connected_client(radio, sensor) as client:
                status = await client.read_status()
                assert not status.streaming
                assert not status.time_synced
                assert status.next_sequence == 0
                assert status.sample_rate.hz == RATE_HZ  # configuration lost
                assert status.uptime_ticks < before[0].header.t0_ticks
                assert (await client.backfill(5, 3)).status == Status.BACKFILL_UNAVAILABLE
                await client.start_stream()
                after = await receive(client, 2)
        assert after[0].header.sequence == 0
        assert after[0].header.flags & PacketFlag.STREAM_START
        assert not after[0].header.flags & PacketFlag.TIME_SYNCED
        assert after[0].header.t0_ticks < before[-1].header.t0_ticks

    run(main())


# (bytes written, status expected, opcode echoed)
MALFORMED = [
    (b"", Status.INVALID_LENGTH, 0),
    (b"\x01", Status.INVALID_LENGTH, 1),
    (b"\x63\x07", Status.UNKNOWN_OPCODE, 0x63),
    (b"\x01\x07\x00", Status.INVALID_LENGTH, Opcode.START_STREAM),
    (b"\x03\x07\x68", Status.INVALID_LENGTH, Opcode.SET_RATE),
    (b"\x03\x07\x64\x00", Status.INVALID_PARAMETER, Opcode.SET_RATE),  # 100 Hz
    (b"\x04\x07\x04\x00", Status.INVALID_PARAMETER, Opcode.SET_RANGES),  # acc code 4
    (b"\x04\x07\x00\x05", Status.INVALID_PARAMETER, Opcode.SET_RANGES),  # gyro code 5
    (b"\x05\x07" + bytes(7), Status.INVALID_LENGTH, Opcode.TIME_SYNC),
    (b"\x06\x07\x00\x00\x00\x00", Status.INVALID_PARAMETER, Opcode.BACKFILL),  # count 0
    (b"\x07\x07", Status.INVALID_LENGTH, Opcode.IDENTIFY),
]


def test_malformed_control_writes_get_the_right_status() -> None:
    async def main() -> None:
        async with (
            running_sensor(walk_like(), config()) as (radio, sensor),
            connected_client(radio, sensor) as client,
        ):
            for raw, status, opcode in MALFORMED:
                response = await client.write_control(raw)
                assert (response.status, int(response.opcode)) == (status, opcode), raw
            assert sensor.stats.control_errors == len(MALFORMED)
            assert (await client.identify(3)).status == Status.OK  # still answering
            assert sensor.identifying

    run(main())


def test_small_mtu_means_fewer_samples_per_packet() -> None:
    source = walk_like()
    expected = expected_counts(source, RATE_HZ, 16, 2000)

    async def main() -> None:
        async with running_sensor(source, config()) as (radio, sensor):
            async with connected_client(radio, sensor, mtu=23) as tiny:
                assert (await tiny.start_stream()).status == Status.MTU_TOO_SMALL
            async with connected_client(radio, sensor, mtu=100) as client:
                assert client.mtu == 100
                await client.start_stream()
                packets = await receive(client, 15)
        assert {p.header.sample_count for p in packets} == {(100 - 3 - 16) // 12}
        got = counts_of(packets)
        np.testing.assert_array_equal(got, expected[: len(got)])

    run(main())


def test_injected_malformed_packets_reach_the_central_as_is() -> None:
    async def main() -> None:
        async with (
            running_sensor(walk_like(), config()) as (radio, sensor),
            connected_client(radio, sensor) as client,
        ):
            junk = [b"\x02" + bytes(15), b"\x01\x01\x00\x33\x00\x00\x05\x02" + bytes(8)]
            for raw in junk:
                await sensor.inject(raw)
            for raw in junk:
                data = await client.next_packet()
                assert data == raw
                with pytest.raises(ProtocolError):
                    decode_packet(data)

    run(main())


def test_streaming_stops_at_the_end_of_the_source() -> None:
    source = walk_like(seconds=1.0)  # 104 samples

    async def main() -> None:
        async with (
            running_sensor(source, config()) as (radio, sensor),
            connected_client(radio, sensor) as client,
        ):
            await client.start_stream()
            packets = await receive(client, 11)  # 10 live packets of 10 samples + 4
            await asyncio.sleep(0.2)
            assert not sensor.streaming
            assert client.packets.empty()
        assert sum(p.header.sample_count for p in packets) == 104

    run(main())


def test_scan_finds_only_dorsi_service() -> None:
    assert SERVICE_UUID.startswith("d0510001")

    async def main() -> None:
        async with (
            running_sensor(walk_like(), config()) as (radio, _sensor),
            central_device(radio, "bystander") as other,
            central_device(radio) as dev,
        ):
            await other.start_advertising()  # a non-dorsi advertiser on the same air
            found = await scan(dev, timeout_s=0.5, first_only=False)
        assert len(found) == 1

    run(main())


def test_left_and_right_sensors_stream_to_one_central() -> None:
    async def main() -> None:
        left_cfg, right_cfg = config(side=Side.LEFT), config(side=Side.RIGHT)
        async with (
            running_sensor(walk_like(seed=1), left_cfg) as (radio, left),
            running_sensor(walk_like(seed=2), right_cfg, radio=radio) as (_, right),
            central_device(radio) as device,
        ):
            found = await scan(device, timeout_s=0.5, first_only=False)
            assert {s.address for s in found} == {left.address, right.address}
            clients = [await SensorClient.connect(device, s.address) for s in (left, right)]
            sides = [(await c.read_status()).side for c in clients]
            assert sides == [Side.LEFT, Side.RIGHT]
            for c in clients:
                await c.start_stream()
            for c in clients:
                assert [p.header.sequence for p in await receive(c, 10)] == list(range(10))
            for c in clients:
                await c.disconnect()

    run(main())
