"""Status/config characteristic (read): bytes ↔ ``DeviceStatus``. Layout in SPEC.md §6.

22 bytes, little-endian: u8 protocol_version, u8 fw major, u8 fw minor, u8 fw patch,
u16 sample_rate_hz, u8 acc_range_code, u8 gyro_range_code, u8 side, u8 state flags
(bit0 streaming, bit1 time synced), u16 ring_capacity_packets, u16 next_sequence,
u64 uptime_ticks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from .constants import (
    MAX_RING_PACKETS,
    PROTOCOL_VERSION,
    STATUS_SIZE,
    SUPPORTED_RATES_HZ,
    AccRange,
    GyroRange,
    SampleRate,
    Side,
)
from .errors import ProtocolError, as_bytes, check_int, to_enum

_STATUS: Final = struct.Struct("<BBBBHBBBBHHQ")
assert _STATUS.size == STATUS_SIZE

STATE_STREAMING: Final = 0x01
STATE_TIME_SYNCED: Final = 0x02
_KNOWN_STATE_BITS: Final = STATE_STREAMING | STATE_TIME_SYNCED


@dataclass(frozen=True, kw_only=True)
class DeviceStatus:
    """Device configuration and state as read from the status characteristic.

    ``next_sequence`` is the sequence number the next live packet will carry;
    ``uptime_ticks`` is the device tick (``TICK_HZ``) at the moment of the read.
    """

    firmware_version: tuple[int, int, int]
    sample_rate: SampleRate
    acc_range: AccRange
    gyro_range: GyroRange
    side: Side
    streaming: bool
    time_synced: bool
    ring_capacity_packets: int
    next_sequence: int
    uptime_ticks: int
    protocol_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        if self.protocol_version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"unsupported protocol version {self.protocol_version!r} "
                f"(this codec speaks version {PROTOCOL_VERSION})"
            )
        fw = self.firmware_version
        if not isinstance(fw, tuple) or len(fw) != 3:
            raise ProtocolError(f"firmware_version must be (major, minor, patch), got {fw!r}")
        for part in fw:
            check_int("firmware version part", part, 0, 0xFF)
        object.__setattr__(self, "sample_rate", to_enum(SampleRate, self.sample_rate, "rate code"))
        object.__setattr__(self, "acc_range", to_enum(AccRange, self.acc_range, "acc range code"))
        gyro = to_enum(GyroRange, self.gyro_range, "gyro range code")
        object.__setattr__(self, "gyro_range", gyro)
        object.__setattr__(self, "side", to_enum(Side, self.side, "side"))
        for name in ("streaming", "time_synced"):
            if not isinstance(getattr(self, name), bool):
                raise ProtocolError(f"{name} must be a bool")
        check_int("ring_capacity_packets", self.ring_capacity_packets, 0, MAX_RING_PACKETS)
        check_int("next_sequence", self.next_sequence, 0, 0xFFFF)
        check_int("uptime_ticks", self.uptime_ticks, 0, (1 << 64) - 1)


def encode_status(status: DeviceStatus) -> bytes:
    """Encode the status characteristic value (22 bytes)."""
    if not isinstance(status, DeviceStatus):
        raise ProtocolError(f"expected a DeviceStatus, got {type(status).__name__}")
    state = (STATE_STREAMING if status.streaming else 0) | (
        STATE_TIME_SYNCED if status.time_synced else 0
    )
    return _STATUS.pack(
        status.protocol_version,
        *status.firmware_version,
        status.sample_rate.hz,
        status.acc_range,
        status.gyro_range,
        status.side,
        state,
        status.ring_capacity_packets,
        status.next_sequence,
        status.uptime_ticks,
    )


def decode_status(data: bytes | bytearray | memoryview) -> DeviceStatus:
    """Decode the status characteristic value.

    Raises:
        ProtocolError: wrong type, unsupported protocol version, length not 22, unsupported rate,
            bad range/side code or reserved state bits. Nothing else escapes.
    """
    raw = as_bytes(data, "status")
    if not raw:
        raise ProtocolError("truncated status: empty")
    if raw[0] != PROTOCOL_VERSION:
        raise ProtocolError(
            f"unsupported protocol version {raw[0]} (this gateway speaks version "
            f"{PROTOCOL_VERSION}); update the gateway software"
        )
    if len(raw) != STATUS_SIZE:
        raise ProtocolError(f"status length {len(raw)} bytes, expected {STATUS_SIZE}")
    version, major, minor, patch, rate_hz, acc, gyro, side, state, ring, seq, uptime = (
        _STATUS.unpack(raw)
    )
    if rate_hz not in SUPPORTED_RATES_HZ:
        raise ProtocolError(f"unsupported sample rate {rate_hz} Hz in status")
    if state & ~_KNOWN_STATE_BITS:
        raise ProtocolError(f"reserved state bits set: 0x{state:02x}")
    return DeviceStatus(
        protocol_version=version,
        firmware_version=(major, minor, patch),
        sample_rate=SampleRate.from_hz(rate_hz),
        acc_range=to_enum(AccRange, acc, "acc range code"),
        gyro_range=to_enum(GyroRange, gyro, "gyro range code"),
        side=to_enum(Side, side, "side"),
        streaming=bool(state & STATE_STREAMING),
        time_synced=bool(state & STATE_TIME_SYNCED),
        ring_capacity_packets=ring,
        next_sequence=seq,
        uptime_ticks=uptime,
    )
