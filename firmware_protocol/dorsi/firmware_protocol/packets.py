"""IMU data packets (data characteristic notifications): bytes ↔ frozen dataclasses.

Layout (little-endian, SPEC.md §4): a 16-byte header, then ``sample_count`` samples of six int16
(acc x, y, z, gyr x, y, z) in raw sensor axes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .constants import (
    ATT_HEADER_SIZE,
    AXES_PER_SAMPLE,
    HEADER_SIZE,
    KNOWN_FLAGS_MASK,
    LIVE_PACKET_MAX_S,
    MAX_SAMPLES_PER_PACKET,
    MIN_ATT_MTU,
    PROTOCOL_VERSION,
    RAW_FULL_SCALE,
    SAMPLE_SIZE,
    SEQUENCE_MODULUS,
    TICK_HZ,
    AccRange,
    GyroRange,
    PacketFlag,
    SampleRate,
    Status,
    StreamType,
)
from .errors import ProtocolError, as_bytes, check_int, to_enum

Sample = tuple[int, int, int, int, int, int]
"""Raw counts: acc x, y, z, gyr x, y, z (int16, raw sensor axes)."""

NO_FLAGS = PacketFlag(0)

_HEADER = struct.Struct("<BBBBHBBQ")
_SAMPLE = struct.Struct("<6h")
_INT16_MIN = -(1 << 15)
_INT16_MAX = (1 << 15) - 1
_U64_MAX = (1 << 64) - 1
assert _HEADER.size == HEADER_SIZE
assert _SAMPLE.size == SAMPLE_SIZE


def max_samples_for_mtu(att_mtu: int) -> int:
    """Samples the device packs per notification at this ATT MTU (bytes).

    ``min(19, (att_mtu − 3 − 16) // 12)``.

    Raises:
        ProtocolError: ATT MTU below 31 (status MTU_TOO_SMALL), or not an int.
    """
    check_int("att_mtu", att_mtu, 0, 1 << 16)
    if att_mtu < MIN_ATT_MTU:
        raise ProtocolError(
            f"ATT MTU {att_mtu} too small: one sample needs an ATT MTU of at least {MIN_ATT_MTU}",
            status=Status.MTU_TOO_SMALL,
        )
    return min(MAX_SAMPLES_PER_PACKET, (att_mtu - ATT_HEADER_SIZE - HEADER_SIZE) // SAMPLE_SIZE)


def samples_per_live_packet(rate_hz: int, att_mtu: int) -> int:
    """Samples the device packs per live notification at this rate (Hz) and ATT MTU (bytes).

    ``min(max_samples_for_mtu(att_mtu), max(1, floor(rate_hz × LIVE_PACKET_MAX_S)))``: 19 at
    208 Hz, 10 at 104 Hz, 5 at 52 Hz, 2 at 26 Hz (SPEC §4.4), so no live sample waits more than
    0.1 s for its packet.

    Raises:
        ProtocolError: ATT MTU below 31 (status MTU_TOO_SMALL), or arguments not ints.
    """
    check_int("rate_hz", rate_hz, 1, 1 << 16)
    by_latency = max(1, (rate_hz * round(LIVE_PACKET_MAX_S * 1000)) // 1000)
    return min(max_samples_for_mtu(att_mtu), by_latency)


@dataclass(frozen=True, kw_only=True)
class PacketHeader:
    """Data-packet header; ``t0_ticks`` is the device tick (``TICK_HZ``) of the first sample."""

    sequence: int
    t0_ticks: int
    sample_count: int
    sample_rate: SampleRate
    acc_range: AccRange
    gyro_range: GyroRange
    flags: PacketFlag = NO_FLAGS
    stream_type: StreamType = StreamType.IMU_6AXIS
    protocol_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        if self.protocol_version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"unsupported protocol version {self.protocol_version!r} "
                f"(this codec speaks version {PROTOCOL_VERSION})"
            )
        check_int("sequence", self.sequence, 0, SEQUENCE_MODULUS - 1)
        check_int("t0_ticks", self.t0_ticks, 0, _U64_MAX)
        check_int("sample_count", self.sample_count, 1, MAX_SAMPLES_PER_PACKET)
        object.__setattr__(
            self, "stream_type", to_enum(StreamType, self.stream_type, "stream type")
        )
        object.__setattr__(self, "sample_rate", to_enum(SampleRate, self.sample_rate, "rate code"))
        object.__setattr__(self, "acc_range", to_enum(AccRange, self.acc_range, "acc range code"))
        object.__setattr__(
            self, "gyro_range", to_enum(GyroRange, self.gyro_range, "gyro range code")
        )
        flags = check_int("flags", self.flags, 0, 0xFF)
        if flags & ~KNOWN_FLAGS_MASK:
            raise ProtocolError(
                f"reserved flag bits set: 0x{flags & ~KNOWN_FLAGS_MASK & 0xFF:02x} "
                f"(flags 0x{flags:02x}; only 0x{KNOWN_FLAGS_MASK:02x} are defined)"
            )
        object.__setattr__(self, "flags", PacketFlag(flags))

    @property
    def range_code(self) -> int:
        """The wire range byte: acc code in the low nibble, gyro code in the high nibble."""
        return int(self.acc_range) | (int(self.gyro_range) << 4)


@dataclass(frozen=True)
class ImuPacket:
    """One data notification: header plus ``header.sample_count`` raw 6-axis samples."""

    header: PacketHeader
    samples: tuple[Sample, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.header, PacketHeader):
            raise ProtocolError(f"header must be a PacketHeader, got {type(self.header).__name__}")
        samples = tuple(_check_sample(i, s) for i, s in enumerate(self.samples))
        if len(samples) != self.header.sample_count:
            raise ProtocolError(
                f"sample count mismatch: header says {self.header.sample_count}, "
                f"got {len(samples)} samples"
            )
        object.__setattr__(self, "samples", samples)

    @classmethod
    def build(
        cls,
        *,
        sequence: int,
        t0_ticks: int,
        samples: Iterable[Sequence[int]],
        sample_rate: SampleRate,
        acc_range: AccRange,
        gyro_range: GyroRange,
        flags: PacketFlag = NO_FLAGS,
    ) -> ImuPacket:
        """Build a packet, deriving ``sample_count`` and setting CLIPPED if any count is at
        full scale (−32768 or 32767)."""
        rows = tuple(_check_sample(i, s) for i, s in enumerate(samples))
        if any(v in (_INT16_MIN, _INT16_MAX) for row in rows for v in row):
            flags = PacketFlag(flags) | PacketFlag.CLIPPED
        header = PacketHeader(
            sequence=sequence,
            t0_ticks=t0_ticks,
            sample_count=len(rows),
            sample_rate=sample_rate,
            acc_range=acc_range,
            gyro_range=gyro_range,
            flags=flags,
        )
        return cls(header, rows)

    def acc_mps2(self) -> list[tuple[float, float, float]]:
        """Specific force per sample in m/s² (raw sensor axes): raw × full_scale / 32768."""
        k = self.header.acc_range.full_scale_mps2 / RAW_FULL_SCALE
        return [(s[0] * k, s[1] * k, s[2] * k) for s in self.samples]

    def gyr_dps(self) -> list[tuple[float, float, float]]:
        """Angular rate per sample in deg/s (raw sensor axes): raw × full_scale / 32768."""
        k = self.header.gyro_range.full_scale_dps / RAW_FULL_SCALE
        return [(s[3] * k, s[4] * k, s[5] * k) for s in self.samples]

    def sample_ticks(self) -> list[float]:
        """Device tick of each sample at the nominal rate: t0 + i × TICK_HZ / rate_hz."""
        step = TICK_HZ / self.header.sample_rate.hz
        t0 = self.header.t0_ticks
        return [t0 + i * step for i in range(self.header.sample_count)]


def _check_sample(index: int, sample: object) -> Sample:
    if not isinstance(sample, tuple | list) or len(sample) != AXES_PER_SAMPLE:
        raise ProtocolError(f"sample {index} must be 6 ints (acc xyz, gyr xyz), got {sample!r}")
    for value in sample:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError(f"sample {index} holds a non-int value {value!r}")
        if not _INT16_MIN <= value <= _INT16_MAX:
            raise ProtocolError(f"sample {index} value {value} outside int16")
    return (sample[0], sample[1], sample[2], sample[3], sample[4], sample[5])


def encode_packet(packet: ImuPacket) -> bytes:
    """Encode a data packet to its notification bytes (16 + 12 × sample_count)."""
    if not isinstance(packet, ImuPacket):
        raise ProtocolError(f"expected an ImuPacket, got {type(packet).__name__}")
    h = packet.header
    out = bytearray(
        _HEADER.pack(
            h.protocol_version,
            h.stream_type,
            h.flags,
            h.range_code,
            h.sequence,
            h.sample_count,
            h.sample_rate,
            h.t0_ticks,
        )
    )
    for sample in packet.samples:
        out += _SAMPLE.pack(*sample)
    return bytes(out)


def decode_packet(data: bytes | bytearray | memoryview) -> ImuPacket:
    """Decode one data notification.

    Raises:
        ProtocolError: wrong type, truncated or over-long, unsupported protocol version, unknown
            stream type, reserved flag bits, bad range or rate code, sample count 0 or > 19, or
            a length that does not match the sample count. Nothing else escapes.
    """
    raw = as_bytes(data, "data packet")
    if not raw:
        raise ProtocolError("truncated packet: empty")
    if raw[0] != PROTOCOL_VERSION:
        raise ProtocolError(
            f"unsupported protocol version {raw[0]} (this gateway speaks version "
            f"{PROTOCOL_VERSION}); update the gateway software"
        )
    if len(raw) < HEADER_SIZE:
        raise ProtocolError(f"truncated packet: {len(raw)} bytes, header needs {HEADER_SIZE}")
    version, stream, flags, ranges, seq, count, rate, t0 = _HEADER.unpack_from(raw)
    if stream != StreamType.IMU_6AXIS:
        raise ProtocolError(f"unknown stream type {stream} (valid: 1 = IMU 6-axis)")
    if count == 0 or count > MAX_SAMPLES_PER_PACKET:
        raise ProtocolError(f"invalid sample count {count} (valid: 1..{MAX_SAMPLES_PER_PACKET})")
    expected = HEADER_SIZE + count * SAMPLE_SIZE
    if len(raw) != expected:
        raise ProtocolError(
            f"length mismatch: {len(raw)} bytes but sample count {count} needs {expected}"
        )
    header = PacketHeader(
        protocol_version=version,
        stream_type=StreamType.IMU_6AXIS,
        flags=PacketFlag(flags),
        acc_range=to_enum(AccRange, ranges & 0x0F, "acc range code"),
        gyro_range=to_enum(GyroRange, ranges >> 4, "gyro range code"),
        sequence=seq,
        sample_count=count,
        sample_rate=to_enum(SampleRate, rate, "rate code"),
        t0_ticks=t0,
    )
    samples = tuple(_SAMPLE.iter_unpack(raw[HEADER_SIZE:]))
    return ImuPacket(header, samples)
