"""Status/config characteristic codec: layout, round trip and malformed values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dorsi.firmware_protocol import (
    AccRange,
    DeviceStatus,
    GyroRange,
    ProtocolError,
    SampleRate,
    Side,
    decode_status,
    encode_status,
)

statuses = st.builds(
    DeviceStatus,
    firmware_version=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    sample_rate=st.sampled_from(SampleRate),
    acc_range=st.sampled_from(AccRange),
    gyro_range=st.sampled_from(GyroRange),
    side=st.sampled_from(Side),
    streaming=st.booleans(),
    time_synced=st.booleans(),
    ring_capacity_packets=st.integers(0, 32767),
    next_sequence=st.integers(0, 0xFFFF),
    uptime_ticks=st.integers(0, 2**64 - 1),
)


def _example() -> DeviceStatus:
    return DeviceStatus(
        firmware_version=(1, 2, 3),
        sample_rate=SampleRate.HZ_208,
        acc_range=AccRange.G8,
        gyro_range=GyroRange.DPS2000,
        side=Side.RIGHT,
        streaming=True,
        time_synced=False,
        ring_capacity_packets=8192,
        next_sequence=0xABCD,
        uptime_ticks=32768 * 3600,
    )


def test_basic_layout() -> None:
    data = encode_status(_example())
    assert data.hex() == (
        "01"  # protocol version
        "010203"  # firmware 1.2.3
        "d000"  # 208 Hz
        "02"  # acc code 2 (±8 g)
        "03"  # gyro code 3 (±2000 deg/s)
        "02"  # side right
        "01"  # streaming, not time-synced
        "0020"  # ring capacity 8192 packets
        "cdab"  # next sequence
        "0000080700000000"  # uptime ticks = 32768 × 3600 = 0x07080000
    )


@given(statuses)
def test_round_trip(status: DeviceStatus) -> None:
    data = encode_status(status)
    assert len(data) == 22
    assert decode_status(bytearray(data)) == status


def _patched(offset: int, value: int) -> bytes:
    out = bytearray(encode_status(_example()))
    out[offset] = value
    return bytes(out)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"truncated status: empty"),
        (_patched(0, 2), r"unsupported protocol version 2 .*update the gateway"),
        (encode_status(_example())[:21], r"status length 21 bytes, expected 22"),
        (encode_status(_example()) + b"\x00", r"status length 23 bytes, expected 22"),
        (_patched(4, 100), r"unsupported sample rate 100 Hz in status"),
        (_patched(6, 4), r"invalid acc range code 4"),
        (_patched(7, 5), r"invalid gyro range code 5"),
        (_patched(8, 3), r"invalid side 3"),
        (_patched(9, 0x04), r"reserved state bits set: 0x04"),
        (_patched(11, 0x80), r"ring_capacity_packets 32768 out of range \[0, 32767\]"),
        (12345, r"status: expected bytes, bytearray or memoryview, got int"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_raises(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_status(data)


def test_construction_validates() -> None:
    with pytest.raises(ProtocolError, match=r"firmware_version must be \(major, minor, patch\)"):
        DeviceStatus(
            firmware_version=(1, 2),  # type: ignore[arg-type]
            sample_rate=SampleRate.HZ_52,
            acc_range=AccRange.G2,
            gyro_range=GyroRange.DPS250,
            side=Side.LEFT,
            streaming=False,
            time_synced=False,
            ring_capacity_packets=0,
            next_sequence=0,
            uptime_ticks=0,
        )
