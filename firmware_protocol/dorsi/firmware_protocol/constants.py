"""Protocol constants: GATT UUIDs, versions, sizes, codes and their physical values.

Normative source: ``firmware_protocol/SPEC.md``; mirrored in ``include/dorsi_protocol.h``.
"""

from __future__ import annotations

import enum
from typing import Final

PROTOCOL_VERSION: Final = 1
"""Wire-protocol version carried in every data packet and in the status characteristic."""

TICK_HZ: Final = 32768
"""Device monotonic tick rate (Hz); ticks count from boot and never wrap (u64)."""

STANDARD_GRAVITY_MPS2: Final = 9.80665
"""Conversion factor g → m/s² used for the accelerometer full scale."""

RAW_FULL_SCALE: Final = 32768
"""int16 counts that correspond to the full-scale range: SI = raw × full_scale / 32768."""

# --- GATT -------------------------------------------------------------------------------------

_BASE_SUFFIX: Final = "-7b1c-4f5e-9a3d-2c6e8f4b1a00"
BASE_UUID: Final = "d0510000" + _BASE_SUFFIX
SERVICE_UUID: Final = "d0510001" + _BASE_SUFFIX
DATA_CHAR_UUID: Final = "d0510002" + _BASE_SUFFIX
CONTROL_CHAR_UUID: Final = "d0510003" + _BASE_SUFFIX
STATUS_CHAR_UUID: Final = "d0510004" + _BASE_SUFFIX

_SIG_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"


def _sig_uuid(short: int) -> str:
    """Expand a 16-bit Bluetooth SIG UUID to its full 128-bit lowercase form."""
    return f"0000{short:04x}{_SIG_SUFFIX}"


BATTERY_SERVICE_UUID: Final = _sig_uuid(0x180F)
BATTERY_LEVEL_CHAR_UUID: Final = _sig_uuid(0x2A19)
DEVICE_INFO_SERVICE_UUID: Final = _sig_uuid(0x180A)
MANUFACTURER_NAME_CHAR_UUID: Final = _sig_uuid(0x2A29)
MODEL_NUMBER_CHAR_UUID: Final = _sig_uuid(0x2A24)
SERIAL_NUMBER_CHAR_UUID: Final = _sig_uuid(0x2A25)
FIRMWARE_REVISION_CHAR_UUID: Final = _sig_uuid(0x2A26)
HARDWARE_REVISION_CHAR_UUID: Final = _sig_uuid(0x2A27)

DEVICE_NAME_PREFIX: Final = "dorsi-"
"""Advertised complete local name is ``dorsi-XXXX`` (XXXX = last 2 address bytes, upper hex)."""

# --- Sizes and MTU ----------------------------------------------------------------------------

HEADER_SIZE: Final = 16
"""Data-packet header size (bytes)."""
SAMPLE_SIZE: Final = 12
"""One 6-axis sample: 6 × int16 (bytes)."""
AXES_PER_SAMPLE: Final = 6
ATT_HEADER_SIZE: Final = 3
"""ATT notification overhead (opcode + handle) subtracted from the ATT MTU (bytes)."""
MAX_SAMPLES_PER_PACKET: Final = 19
"""Samples per packet at ATT MTU ≥ 247: 16 + 19 × 12 = 244 bytes."""
MAX_PACKET_SIZE: Final = HEADER_SIZE + MAX_SAMPLES_PER_PACKET * SAMPLE_SIZE
LIVE_PACKET_MAX_S: Final = 0.1
"""A live packet spans at most this long (s): samples are sent within ~0.1 s of being taken."""
MIN_ATT_MTU: Final = ATT_HEADER_SIZE + HEADER_SIZE + SAMPLE_SIZE
"""Smallest ATT MTU that carries one sample (31); below it START_STREAM answers MTU_TOO_SMALL."""
SEQUENCE_MODULUS: Final = 1 << 16
"""Packet sequence numbers are u16 and wrap from 65535 to 0."""

MAX_RING_PACKETS: Final = SEQUENCE_MODULUS // 2 - 1
"""Ring-buffer capacity limit (packets): half the sequence space keeps backfill unambiguous."""

RESPONSE_MARKER: Final = 0x80
"""First byte of every control-point indication."""

STATUS_SIZE: Final = 22
"""Status/config characteristic value size (bytes, protocol version 1)."""

RECOMMENDED_RING_SECONDS: Final = 600
"""The ring buffer SHOULD hold at least this many seconds at the highest rate (s)."""


class StreamType(enum.IntEnum):
    """Data-packet stream type (header byte 1)."""

    IMU_6AXIS = 1


class PacketFlag(enum.IntFlag):
    """Data-packet flag bits (header byte 2); bits 4–7 are reserved and MUST be 0."""

    BACKFILL = 0x01
    """Resent from the ring buffer in answer to a BACKFILL request."""
    CLIPPED = 0x02
    """At least one sample in the packet reached full scale (±32767/−32768)."""
    STREAM_START = 0x04
    """First packet after START_STREAM or after boot."""
    TIME_SYNCED = 0x08
    """The device has received at least one TIME_SYNC since boot."""


KNOWN_FLAGS_MASK: Final = 0x0F


class AccRange(enum.IntEnum):
    """Accelerometer full-scale range code (low nibble of the range byte)."""

    G2 = 0
    G4 = 1
    G8 = 2
    G16 = 3

    @property
    def full_scale_g(self) -> float:
        """Full scale in g."""
        return float(2 << self.value)

    @property
    def full_scale_mps2(self) -> float:
        """Full scale in m/s²."""
        return self.full_scale_g * STANDARD_GRAVITY_MPS2


class GyroRange(enum.IntEnum):
    """Gyroscope full-scale range code (high nibble of the range byte)."""

    DPS250 = 0
    DPS500 = 1
    DPS1000 = 2
    DPS2000 = 3
    DPS4000 = 4

    @property
    def full_scale_dps(self) -> float:
        """Full scale in deg/s."""
        return float(250 << self.value)


_RATE_HZ: Final = (26, 52, 104, 208)
SUPPORTED_RATES_HZ: Final = _RATE_HZ
"""Nominal sampling rates (Hz), indexed by rate code."""


class SampleRate(enum.IntEnum):
    """Output data rate code (header byte 7)."""

    HZ_26 = 0
    HZ_52 = 1
    HZ_104 = 2
    HZ_208 = 3

    @property
    def hz(self) -> int:
        """Nominal sampling rate in Hz."""
        return _RATE_HZ[self.value]

    @classmethod
    def from_hz(cls, rate_hz: int) -> SampleRate:
        """Return the code for a nominal rate in Hz; ValueError if unsupported."""
        for code, hz in enumerate(_RATE_HZ):
            if hz == rate_hz:
                return cls(code)
        supported = ", ".join(str(h) for h in _RATE_HZ)
        raise ValueError(f"unsupported sample rate {rate_hz} Hz (supported: {supported})")


class Side(enum.IntEnum):
    """Which foot the sensor is configured for."""

    UNKNOWN = 0
    LEFT = 1
    RIGHT = 2


class Opcode(enum.IntEnum):
    """Control-point operation codes."""

    START_STREAM = 0x01
    STOP_STREAM = 0x02
    SET_RATE = 0x03
    SET_RANGES = 0x04
    TIME_SYNC = 0x05
    BACKFILL = 0x06
    IDENTIFY = 0x07


class Status(enum.IntEnum):
    """Control-point response status codes (see SPEC.md for which op returns which)."""

    OK = 0
    UNKNOWN_OPCODE = 1
    INVALID_LENGTH = 2
    INVALID_PARAMETER = 3
    INVALID_STATE = 4
    BACKFILL_UNAVAILABLE = 5
    MTU_TOO_SMALL = 6
    BUSY = 7
    INTERNAL_ERROR = 8
