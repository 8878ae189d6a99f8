"""C header ↔ Python codec byte compatibility.

Compiles ``tests/firmware_protocol/c/*.c`` against ``firmware_protocol/include/dorsi_protocol.h``
with ``gcc -std=c11 -Wall -Wextra -Werror``. The C program encodes packets, responses and
status from parameters (Python decodes them byte-exactly and compares every field), and
decodes Python-encoded (and mutated) packets and requests (Python compares fields, accept/reject
and the status the device would answer with).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from dorsi.firmware_protocol import (
    ALLOWED_STATUSES,
    SUPPORTED_RATES_HZ,
    AccRange,
    BackfillPayload,
    ControlRequest,
    ControlResponse,
    DeviceStatus,
    GyroRange,
    ImuPacket,
    Opcode,
    PacketFlag,
    ProtocolError,
    SampleRate,
    Side,
    Status,
    TimeSyncPayload,
    decode_packet,
    decode_request,
    decode_response,
    decode_status,
    encode_packet,
    encode_request,
    max_samples_for_mtu,
    samples_per_live_packet,
)

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "firmware_protocol" / "include"
C_SOURCES = sorted((Path(__file__).parent / "c").glob("*.c"))
EXTREMES = (-32768, -32767, -1, 0, 1, 32766, 32767)


@pytest.fixture(scope="module")
def c_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        if os.environ.get("CI"):
            pytest.fail("gcc is not installed (scripts/bootstrap.sh installs it as root)")
        pytest.skip("gcc is not installed")
    exe = tmp_path_factory.mktemp("dorsi_c") / "dorsi_codec_check"
    cmd = [gcc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", f"-I{INCLUDE}"]
    result = subprocess.run(
        [*cmd, "-o", str(exe), *map(str, C_SOURCES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return exe


def run_c(exe: Path, lines: list[str]) -> list[str]:
    result = subprocess.run(
        [str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True
    )
    out = result.stdout.splitlines()
    assert len(out) == len(lines), result.stdout[-500:]
    return out


def _sample(rng: random.Random) -> tuple[int, int, int, int, int, int]:
    def one() -> int:
        return rng.choice(EXTREMES) if rng.random() < 0.05 else rng.randint(-32768, 32767)

    return (one(), one(), one(), one(), one(), one())


def _random_packet(rng: random.Random) -> ImuPacket:
    return ImuPacket.build(
        sequence=rng.randrange(1 << 16),
        t0_ticks=rng.choice([0, (1 << 64) - 1, rng.randrange(1 << 64)]),
        samples=[_sample(rng) for _ in range(rng.randint(1, 19))],
        sample_rate=rng.choice(list(SampleRate)),
        acc_range=rng.choice(list(AccRange)),
        gyro_range=rng.choice(list(GyroRange)),
        flags=PacketFlag(rng.randrange(16)) & ~PacketFlag.CLIPPED,  # build() derives CLIPPED
    )


def test_c_encoded_packets_decode_byte_exactly(c_driver: Path) -> None:
    rng = random.Random(11)
    packets = [_random_packet(rng) for _ in range(400)]
    lines = []
    for p in packets:
        h = p.header
        flat = " ".join(str(v) for s in p.samples for v in s)
        lines.append(
            f"ep {h.sequence} {h.t0_ticks} {int(h.sample_rate)} {int(h.acc_range)} "
            f"{int(h.gyro_range)} {int(h.flags & ~PacketFlag.CLIPPED)} {h.sample_count} {flat}"
        )
    clipped = sum(PacketFlag.CLIPPED in p.header.flags for p in packets)
    assert 0 < clipped < len(packets)  # both branches of the CLIPPED rule are exercised
    for packet, hex_out in zip(packets, run_c(c_driver, lines), strict=True):
        data = bytes.fromhex(hex_out)
        assert data == encode_packet(packet)  # same bytes, CLIPPED derived identically
        assert decode_packet(data) == packet


def test_c_encoded_status_and_responses_decode(c_driver: Path) -> None:
    rng = random.Random(12)
    statuses = [
        DeviceStatus(
            firmware_version=(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
            sample_rate=rng.choice(list(SampleRate)),
            acc_range=rng.choice(list(AccRange)),
            gyro_range=rng.choice(list(GyroRange)),
            side=rng.choice(list(Side)),
            streaming=rng.random() < 0.5,
            time_synced=rng.random() < 0.5,
            ring_capacity_packets=rng.randrange(1 << 15),
            next_sequence=rng.randrange(1 << 16),
            uptime_ticks=rng.randrange(1 << 64),
        )
        for _ in range(100)
    ]
    lines = [
        f"es 1 {s.firmware_version[0]} {s.firmware_version[1]} {s.firmware_version[2]} "
        f"{s.sample_rate.hz} {int(s.acc_range)} {int(s.gyro_range)} {int(s.side)} "
        f"{int(s.streaming) | int(s.time_synced) << 1} {s.ring_capacity_packets} "
        f"{s.next_sequence} {s.uptime_ticks}"
        for s in statuses
    ]
    expected: list[ControlResponse] = []
    for _ in range(100):
        op = rng.choice(list(Opcode))
        status = rng.choice(sorted(ALLOWED_STATUSES[op] - {Status.OK}))
        rid = rng.randrange(256)
        lines.append(f"er {int(op)} {rid} {int(status)}")
        expected.append(ControlResponse(op, rid, status))
        host, ticks = rng.randrange(1 << 64), rng.randrange(1 << 64)
        lines.append(f"ets {rid} {host} {ticks}")
        expected.append(
            ControlResponse(Opcode.TIME_SYNC, rid, Status.OK, TimeSyncPayload(host, ticks))
        )
        first, count = rng.randrange(1 << 16), rng.randint(1, 0xFFFF)
        lines.append(f"ebf {rid} {first} {count}")
        expected.append(
            ControlResponse(Opcode.BACKFILL, rid, Status.OK, BackfillPayload(first, count))
        )
    out = run_c(c_driver, lines)
    # "es" also checks the packed struct against the explicit encoder (prints on mismatch)
    assert "struct-mismatch" not in out
    for device_status, hex_out in zip(statuses, out[: len(statuses)], strict=True):
        assert decode_status(bytes.fromhex(hex_out)) == device_status
    for response, hex_out in zip(expected, out[len(statuses) :], strict=True):
        assert decode_response(bytes.fromhex(hex_out)) == response


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0 and out:
        out[rng.randrange(min(len(out), 20))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del out[rng.randint(0, len(out)) :]
    elif kind == 2:
        out += rng.randbytes(rng.randint(1, 12))
    return bytes(out)


def test_c_decodes_python_packets_like_python(c_driver: Path) -> None:
    rng = random.Random(13)
    inputs = [encode_packet(_random_packet(rng)) for _ in range(300)]
    inputs += [_mutate(rng, d) for d in inputs]
    lines = [f"dp {d.hex() or '-'}" for d in inputs]
    accepted = rejected = 0
    for data, line in zip(inputs, run_c(c_driver, lines), strict=True):
        try:
            packet = decode_packet(data)
        except ProtocolError:
            assert line.startswith("err "), (data.hex(), line)
            rejected += 1
            continue
        h = packet.header
        fields = [h.sequence, h.t0_ticks, int(h.sample_rate), int(h.acc_range)]
        fields += [int(h.gyro_range), int(h.flags), h.sample_count]
        fields += [v for s in packet.samples for v in s]
        assert line == "ok " + " ".join(map(str, fields))
        accepted += 1
    assert accepted > 300
    assert rejected > 50


def test_c_decodes_python_requests_with_same_status(c_driver: Path) -> None:
    rng = random.Random(14)
    requests = []
    for _ in range(300):
        rid = rng.randrange(256)
        requests.append(
            rng.choice(
                [
                    ControlRequest.start_stream(rid),
                    ControlRequest.stop_stream(rid),
                    ControlRequest.set_rate(rid, rng.choice(SUPPORTED_RATES_HZ)),
                    ControlRequest.set_ranges(
                        rid, rng.choice(list(AccRange)), rng.choice(list(GyroRange))
                    ),
                    ControlRequest.time_sync(rid, rng.randrange(1 << 64)),
                    ControlRequest.backfill(rid, rng.randrange(1 << 16), rng.randint(1, 0xFFFF)),
                    ControlRequest.identify(rid, rng.randrange(256)),
                ]
            )
        )
    inputs = [encode_request(r) for r in requests]
    inputs += [_mutate(rng, d) for d in inputs] + [
        rng.randbytes(rng.randint(0, 6)) for _ in range(300)
    ]
    lines = [f"dr {d.hex() or '-'}" for d in inputs]
    statuses_seen = set()
    for data, line in zip(inputs, run_c(c_driver, lines), strict=True):
        try:
            request = decode_request(data)
        except ProtocolError as exc:
            expected = [int(exc.status), exc.opcode or 0, exc.request_id or 0]
        else:
            expected = [int(Status.OK), int(request.opcode), request.request_id]
            p = request.params
            expected += [] if p is None else [int(v) for v in vars(p).values()]
        statuses_seen.add(expected[0])
        assert line == " ".join(map(str, expected)), data.hex()
    assert statuses_seen == {0, 1, 2, 3}  # OK, UNKNOWN_OPCODE, INVALID_LENGTH, INVALID_PARAMETER


def test_c_max_samples_for_mtu_matches(c_driver: Path) -> None:
    mtus = [*range(300), 517, 65535]
    for mtu, line in zip(mtus, run_c(c_driver, [f"mtu {m}" for m in mtus]), strict=True):
        try:
            expected = max_samples_for_mtu(mtu)
        except ProtocolError:
            expected = 0
        assert int(line) == expected, mtu


def test_c_samples_per_live_packet_matches(c_driver: Path) -> None:
    cases = [
        (rate, mtu) for rate in (1, 9, 10, 26, 52, 104, 208, 400) for mtu in (0, 30, 31, 100, 247)
    ]
    for (rate, mtu), line in zip(
        cases, run_c(c_driver, [f"live {r} {m}" for r, m in cases]), strict=True
    ):
        try:
            expected = samples_per_live_packet(rate, mtu)
        except ProtocolError:
            expected = 0
        assert int(line) == expected, (rate, mtu)
