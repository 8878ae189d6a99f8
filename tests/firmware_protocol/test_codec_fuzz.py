"""Fuzz: 100,000 random and mutated inputs into every decoder; only ProtocolError may escape.

Every input is fed to all four decoders. Accepted inputs must re-encode to the exact same bytes
(the encoding is canonical), so a decoder cannot silently "accept" by dropping bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

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
    encode_response,
    encode_status,
)

N_INPUTS = 100_000
SEED = 20261128


def _valid_packet(rng: random.Random) -> bytes:
    n = rng.randint(1, 19)
    packet = ImuPacket.build(
        sequence=rng.randrange(1 << 16),
        t0_ticks=rng.randrange(1 << 64),
        samples=[tuple(rng.randint(-32768, 32767) for _ in range(6)) for _ in range(n)],
        sample_rate=rng.choice(list(SampleRate)),
        acc_range=rng.choice(list(AccRange)),
        gyro_range=rng.choice(list(GyroRange)),
        flags=PacketFlag(rng.randrange(16)),
    )
    return encode_packet(packet)


def _valid_request(rng: random.Random) -> ControlRequest:
    rid = rng.randrange(256)
    makers: list[Callable[[], ControlRequest]] = [
        lambda: ControlRequest.start_stream(rid),
        lambda: ControlRequest.stop_stream(rid),
        lambda: ControlRequest.set_rate(rid, rng.choice(SUPPORTED_RATES_HZ)),
        lambda: ControlRequest.set_ranges(
            rid, rng.choice(list(AccRange)), rng.choice(list(GyroRange))
        ),
        lambda: ControlRequest.time_sync(rid, rng.randrange(1 << 64)),
        lambda: ControlRequest.backfill(rid, rng.randrange(1 << 16), rng.randint(1, 0xFFFF)),
        lambda: ControlRequest.identify(rid, rng.randrange(256)),
    ]
    return rng.choice(makers)()


def _valid_response(rng: random.Random) -> bytes:
    request = _valid_request(rng)
    status = rng.choice(sorted(ALLOWED_STATUSES[request.opcode]))
    payload: TimeSyncPayload | BackfillPayload | None = None
    if status == Status.OK and request.opcode == Opcode.TIME_SYNC:
        payload = TimeSyncPayload(rng.randrange(1 << 64), rng.randrange(1 << 64))
    elif status == Status.OK and request.opcode == Opcode.BACKFILL:
        payload = BackfillPayload(rng.randrange(1 << 16), rng.randint(1, 0xFFFF))
    return encode_response(ControlResponse.answer(request, status, payload))


def _valid_status(rng: random.Random) -> bytes:
    return encode_status(
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
    )


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0 and out:  # bit flips
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del out[rng.randint(0, len(out)) :]
    elif kind == 2:  # extension
        out += rng.randbytes(rng.randint(1, 24))
    elif kind == 3 and len(out) > 1:  # byte swap
        i, j = rng.randrange(len(out)), rng.randrange(len(out))
        out[i], out[j] = out[j], out[i]
    elif kind == 4 and out:  # random byte overwrite, header-biased
        out[rng.randrange(min(len(out), 24))] = rng.randrange(256)
    # kind 5 (and the no-op cases): the valid encoding itself
    return bytes(out)


def _inputs(rng: random.Random) -> list[bytes | bytearray | memoryview]:
    makers: list[Callable[[random.Random], bytes]] = [
        _valid_packet,
        _valid_packet,
        _valid_packet,
        lambda r: encode_request(_valid_request(r)),
        _valid_response,
        _valid_status,
    ]
    inputs: list[bytes | bytearray | memoryview] = []
    for i in range(N_INPUTS):
        if rng.random() < 0.1:
            data = rng.randbytes(rng.randint(0, 260))
        else:
            data = _mutate(rng, rng.choice(makers)(rng))
        inputs.append(data if i % 7 else memoryview(bytearray(data)))
    return inputs


def test_fuzz_only_protocol_error_escapes() -> None:
    rng = random.Random(SEED)
    inputs = _inputs(rng)
    assert len(inputs) >= 100_000
    codecs: dict[str, tuple[Callable[[Any], Any], Callable[[Any], bytes]]] = {
        "packet": (decode_packet, encode_packet),
        "request": (decode_request, encode_request),
        "response": (decode_response, encode_response),
        "status": (decode_status, encode_status),
    }
    counts = {name: [0, 0] for name in codecs}  # accepted, rejected
    unexplained = 0  # rejections without a message
    for data in inputs:
        for name, (decode, encode) in codecs.items():
            try:
                decoded = decode(data)
            except ProtocolError as exc:
                unexplained += not str(exc)
                counts[name][1] += 1
            else:
                assert encode(decoded) == bytes(data), (name, bytes(data).hex())
                counts[name][0] += 1
    print("fuzz accepted/rejected per decoder:", counts)
    assert unexplained == 0
    for name, (accepted, rejected) in counts.items():
        assert accepted > 0, name
        assert rejected > 0, name
