"""Data-packet codec: byte layout, SI conversion, MTU rule, round trips and every malformed kind."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dorsi.firmware_protocol import (
    LIVE_PACKET_MAX_S,
    MAX_SAMPLES_PER_PACKET,
    TICK_HZ,
    AccRange,
    GyroRange,
    ImuPacket,
    PacketFlag,
    PacketHeader,
    ProtocolError,
    SampleRate,
    Status,
    decode_packet,
    encode_packet,
    max_samples_for_mtu,
    samples_per_live_packet,
)

int16 = st.integers(-32768, 32767)
samples_st = st.lists(st.tuples(int16, int16, int16, int16, int16, int16), min_size=1, max_size=19)


@st.composite
def packets(draw: st.DrawFn) -> ImuPacket:
    samples = draw(samples_st)
    header = PacketHeader(
        sequence=draw(st.integers(0, 0xFFFF)),
        t0_ticks=draw(st.integers(0, 2**64 - 1)),
        sample_count=len(samples),
        sample_rate=draw(st.sampled_from(SampleRate)),
        acc_range=draw(st.sampled_from(AccRange)),
        gyro_range=draw(st.sampled_from(GyroRange)),
        flags=PacketFlag(draw(st.integers(0, 0x0F))),
    )
    return ImuPacket(header, tuple(samples))


def _valid_packet(count: int = 2) -> bytes:
    packet = ImuPacket.build(
        sequence=7,
        t0_ticks=1000,
        samples=[(i, -i, 2 * i, 3, 4, 5) for i in range(count)],
        sample_rate=SampleRate.HZ_104,
        acc_range=AccRange.G8,
        gyro_range=GyroRange.DPS2000,
    )
    return encode_packet(packet)


def test_basic_byte_layout_matches_spec_offsets() -> None:
    packet = ImuPacket.build(
        sequence=0x1234,
        t0_ticks=0x0102030405060708,
        samples=[(1, -1, 256, -256, 32767, -32768)],
        sample_rate=SampleRate.HZ_208,
        acc_range=AccRange.G16,
        gyro_range=GyroRange.DPS4000,
        flags=PacketFlag.BACKFILL | PacketFlag.TIME_SYNCED,
    )
    data = encode_packet(packet)
    assert len(data) == 16 + 12
    assert data[0] == 1  # protocol version
    assert data[1] == 1  # stream type IMU 6-axis
    assert data[2] == 0x01 | 0x02 | 0x08  # BACKFILL | CLIPPED (auto, full scale) | TIME_SYNCED
    assert data[3] == 0x43  # acc code 3 low nibble, gyro code 4 high nibble
    assert data[4:6] == b"\x34\x12"  # sequence, little-endian
    assert data[6] == 1  # sample count
    assert data[7] == 3  # rate code 208 Hz
    assert data[8:16] == bytes([8, 7, 6, 5, 4, 3, 2, 1])  # t0_ticks u64 LE
    assert data[16:28] == struct.pack("<6h", 1, -1, 256, -256, 32767, -32768)


def test_full_packet_is_244_bytes_for_mtu_247() -> None:
    assert len(_valid_packet(MAX_SAMPLES_PER_PACKET)) == 244
    assert max_samples_for_mtu(247) == 19


@pytest.mark.parametrize(
    ("att_mtu", "expected"), [(31, 1), (42, 1), (43, 2), (100, 6), (185, 13), (247, 19), (517, 19)]
)
def test_max_samples_for_mtu(att_mtu: int, expected: int) -> None:
    n = max_samples_for_mtu(att_mtu)
    assert n == expected
    assert 3 + 16 + 12 * n <= att_mtu


@pytest.mark.parametrize(
    ("rate_hz", "att_mtu", "expected"),
    [(26, 247, 2), (52, 247, 5), (104, 247, 10), (208, 247, 19), (208, 100, 6), (104, 43, 2)],
)
def test_live_packets_span_at_most_a_tenth_of_a_second(
    rate_hz: int, att_mtu: int, expected: int
) -> None:
    n = samples_per_live_packet(rate_hz, att_mtu)
    assert n == expected
    assert n / rate_hz <= LIVE_PACKET_MAX_S
    assert n == max_samples_for_mtu(att_mtu) or (n + 1) / rate_hz > LIVE_PACKET_MAX_S


@pytest.mark.parametrize("att_mtu", [0, 23, 30])
def test_max_samples_for_mtu_raises_mtu_too_small(att_mtu: int) -> None:
    with pytest.raises(ProtocolError, match=r"ATT MTU \d+ too small") as info:
        max_samples_for_mtu(att_mtu)
    assert info.value.status == Status.MTU_TOO_SMALL


def test_si_conversion() -> None:
    packet = ImuPacket.build(
        sequence=0,
        t0_ticks=0,
        samples=[(16384, -16384, 0, 16384, -32768, 8192)],
        sample_rate=SampleRate.HZ_52,
        acc_range=AccRange.G4,
        gyro_range=GyroRange.DPS500,
    )
    (acc,) = packet.acc_mps2()
    (gyr,) = packet.gyr_dps()
    assert acc == pytest.approx((2 * 9.80665, -2 * 9.80665, 0.0))
    assert gyr == pytest.approx((250.0, -500.0, 125.0))


def test_sample_ticks_follow_nominal_rate() -> None:
    packet = ImuPacket.build(
        sequence=0,
        t0_ticks=5000,
        samples=[(0,) * 6] * 3,
        sample_rate=SampleRate.HZ_52,
        acc_range=AccRange.G2,
        gyro_range=GyroRange.DPS250,
    )
    step = TICK_HZ / 52
    assert packet.sample_ticks() == pytest.approx([5000, 5000 + step, 5000 + 2 * step])


def test_build_sets_clipped_only_at_full_scale() -> None:
    def build(sample: tuple[int, int, int, int, int, int]) -> ImuPacket:
        return ImuPacket.build(
            sequence=0,
            t0_ticks=0,
            samples=[sample],
            sample_rate=SampleRate.HZ_52,
            acc_range=AccRange.G2,
            gyro_range=GyroRange.DPS250,
        )

    inside = build((32766, -32767, 0, 0, 0, 0))
    at_max = build((0, 0, 0, 0, 0, 32767))
    at_min = build((-32768, 0, 0, 0, 0, 0))
    assert PacketFlag.CLIPPED not in inside.header.flags
    assert PacketFlag.CLIPPED in at_max.header.flags
    assert PacketFlag.CLIPPED in at_min.header.flags


@given(packets())
def test_round_trip(packet: ImuPacket) -> None:
    data = encode_packet(packet)
    assert len(data) == 16 + 12 * packet.header.sample_count
    assert decode_packet(data) == packet
    assert decode_packet(bytearray(data)) == packet
    assert decode_packet(memoryview(data)) == packet


def _patched(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    out[offset] = value
    return bytes(out)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"truncated packet: empty"),
        (_valid_packet()[:15], r"truncated packet: 15 bytes, header needs 16"),
        (_patched(_valid_packet(), 0, 2), r"unsupported protocol version 2 .*update the gateway"),
        (_patched(_valid_packet(), 0, 0), r"unsupported protocol version 0"),
        (_patched(_valid_packet(), 1, 2), r"unknown stream type 2"),
        (_patched(_valid_packet(), 2, 0x10), r"reserved flag bits set: 0x10"),
        (_patched(_valid_packet(), 2, 0x81), r"reserved flag bits set: 0x80"),
        (_patched(_valid_packet(), 3, 0x04), r"invalid acc range code 4"),
        (_patched(_valid_packet(), 3, 0x50), r"invalid gyro range code 5"),
        (_patched(_valid_packet(), 7, 4), r"invalid rate code 4"),
        (_patched(_valid_packet(0 + 1)[:16], 6, 0), r"invalid sample count 0"),
        (_patched(_valid_packet(), 6, 20), r"invalid sample count 20"),
        (_valid_packet(2)[:-1], r"length mismatch: 39 bytes but sample count 2 needs 40"),
        (_valid_packet(2) + b"\x00", r"length mismatch: 41 bytes but sample count 2 needs 40"),
        (
            _patched(_valid_packet(2), 6, 3),
            r"40 bytes but sample count 3 needs 52",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_raises_for_each_malformed_kind(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_packet(data)


@pytest.mark.parametrize("bad", [None, "0101", 42, [1, 1, 0], bytes])
def test_raises_for_non_bytes(bad: object) -> None:
    with pytest.raises(ProtocolError, match=r"data packet: expected bytes, bytearray or memoryv"):
        decode_packet(bad)  # type: ignore[arg-type]


def test_dataclasses_validate_on_construction() -> None:
    header = PacketHeader(
        sequence=1,
        t0_ticks=0,
        sample_count=2,
        sample_rate=SampleRate.HZ_52,
        acc_range=AccRange.G2,
        gyro_range=GyroRange.DPS250,
    )
    with pytest.raises(ProtocolError, match=r"sample count mismatch: header says 2, got 1"):
        ImuPacket(header, ((0,) * 6,))
    with pytest.raises(ProtocolError, match=r"sample 0 value 40000 outside int16"):
        ImuPacket(header, ((40000, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0)))
    with pytest.raises(ProtocolError, match=r"sample 1 must be 6 ints"):
        ImuPacket(header, ((0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0)))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match=r"sequence 65536 out of range \[0, 65535\]"):
        PacketHeader(
            sequence=65536,
            t0_ticks=0,
            sample_count=1,
            sample_rate=SampleRate.HZ_52,
            acc_range=AccRange.G2,
            gyro_range=GyroRange.DPS250,
        )
    with pytest.raises(ProtocolError, match=r"invalid acc range code 7"):
        PacketHeader(
            sequence=0,
            t0_ticks=0,
            sample_count=1,
            sample_rate=SampleRate.HZ_52,
            acc_range=7,  # type: ignore[arg-type]
            gyro_range=GyroRange.DPS250,
        )
    with pytest.raises(ProtocolError, match=r"sample_count 0 out of range \[1, 19\]"):
        ImuPacket.build(
            sequence=0,
            t0_ticks=0,
            samples=[],
            sample_rate=SampleRate.HZ_52,
            acc_range=AccRange.G2,
            gyro_range=GyroRange.DPS250,
        )
