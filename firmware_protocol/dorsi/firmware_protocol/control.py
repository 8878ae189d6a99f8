"""Control point: requests (writes) and responses (indications), bytes ↔ frozen dataclasses.

Request: u8 opcode, u8 request_id, params. Response: u8 0x80, u8 opcode, u8 request_id,
u8 status, payload (only TIME_SYNC and BACKFILL answered with OK carry one). SPEC.md §5.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from .constants import RESPONSE_MARKER, SUPPORTED_RATES_HZ, AccRange, GyroRange, Opcode, Status
from .errors import ProtocolError, as_bytes, check_int, to_enum

_U8: Final = 0xFF
_U16: Final = 0xFFFF
_U64: Final = (1 << 64) - 1


@dataclass(frozen=True)
class SetRateParams:
    """SET_RATE: nominal output data rate in Hz (u16; 26, 52, 104 or 208)."""

    rate_hz: int

    def __post_init__(self) -> None:
        check_int("rate_hz", self.rate_hz, 0, _U16)
        if self.rate_hz not in SUPPORTED_RATES_HZ:
            supported = ", ".join(str(r) for r in SUPPORTED_RATES_HZ)
            raise ProtocolError(
                f"unsupported sample rate {self.rate_hz} Hz (supported: {supported})",
                status=Status.INVALID_PARAMETER,
            )


@dataclass(frozen=True)
class SetRangesParams:
    """SET_RANGES: accelerometer and gyroscope full-scale range codes (u8 each)."""

    acc_range: AccRange
    gyro_range: GyroRange

    def __post_init__(self) -> None:
        object.__setattr__(self, "acc_range", to_enum(AccRange, self.acc_range, "acc range code"))
        gyro = to_enum(GyroRange, self.gyro_range, "gyro range code")
        object.__setattr__(self, "gyro_range", gyro)


@dataclass(frozen=True)
class TimeSyncParams:
    """TIME_SYNC: host UTC time when the request was sent, µs since the Unix epoch (u64)."""

    host_time_us: int

    def __post_init__(self) -> None:
        check_int("host_time_us", self.host_time_us, 0, _U64)


@dataclass(frozen=True)
class BackfillParams:
    """BACKFILL: resend ``count`` packets starting at sequence ``from_sequence`` (u16 each)."""

    from_sequence: int
    count: int

    def __post_init__(self) -> None:
        check_int("from_sequence", self.from_sequence, 0, _U16)
        check_int("backfill count", self.count, 1, _U16)


@dataclass(frozen=True)
class IdentifyParams:
    """IDENTIFY: blink the LED for ``seconds`` (u8; 0 stops blinking)."""

    seconds: int

    def __post_init__(self) -> None:
        check_int("identify seconds", self.seconds, 0, _U8)


RequestParams = SetRateParams | SetRangesParams | TimeSyncParams | BackfillParams | IdentifyParams

_PARAMS_TYPE: Final[dict[Opcode, type[RequestParams] | None]] = {
    Opcode.START_STREAM: None,
    Opcode.STOP_STREAM: None,
    Opcode.SET_RATE: SetRateParams,
    Opcode.SET_RANGES: SetRangesParams,
    Opcode.TIME_SYNC: TimeSyncParams,
    Opcode.BACKFILL: BackfillParams,
    Opcode.IDENTIFY: IdentifyParams,
}
_PARAMS_LEN: Final[dict[Opcode, int]] = {
    Opcode.START_STREAM: 0,
    Opcode.STOP_STREAM: 0,
    Opcode.SET_RATE: 2,
    Opcode.SET_RANGES: 2,
    Opcode.TIME_SYNC: 8,
    Opcode.BACKFILL: 4,
    Opcode.IDENTIFY: 1,
}

_COMMON: Final = frozenset({Status.OK, Status.INVALID_LENGTH, Status.BUSY, Status.INTERNAL_ERROR})
ALLOWED_STATUSES: Final[dict[Opcode, frozenset[Status]]] = {
    Opcode.START_STREAM: _COMMON | {Status.MTU_TOO_SMALL},
    Opcode.STOP_STREAM: _COMMON,
    Opcode.SET_RATE: _COMMON | {Status.INVALID_PARAMETER, Status.INVALID_STATE},
    Opcode.SET_RANGES: _COMMON | {Status.INVALID_PARAMETER, Status.INVALID_STATE},
    Opcode.TIME_SYNC: _COMMON,
    Opcode.BACKFILL: _COMMON
    | {Status.INVALID_PARAMETER, Status.BACKFILL_UNAVAILABLE, Status.MTU_TOO_SMALL},
    Opcode.IDENTIFY: _COMMON,
}
"""Which status each opcode may answer with (SPEC.md §5.3)."""


@dataclass(frozen=True)
class ControlRequest:
    """A control-point write; ``params`` is None for START_STREAM and STOP_STREAM."""

    opcode: Opcode
    request_id: int
    params: RequestParams | None = None

    def __post_init__(self) -> None:
        opcode = to_enum(Opcode, self.opcode, "opcode")
        object.__setattr__(self, "opcode", opcode)
        check_int("request_id", self.request_id, 0, _U8)
        expected = _PARAMS_TYPE[opcode]
        if expected is None:
            if self.params is not None:
                raise ProtocolError(f"{opcode.name} takes no parameters, got {self.params!r}")
        elif not isinstance(self.params, expected):
            raise ProtocolError(
                f"{opcode.name} needs {expected.__name__}, got {type(self.params).__name__}"
            )

    @classmethod
    def start_stream(cls, request_id: int) -> ControlRequest:
        return cls(Opcode.START_STREAM, request_id)

    @classmethod
    def stop_stream(cls, request_id: int) -> ControlRequest:
        return cls(Opcode.STOP_STREAM, request_id)

    @classmethod
    def set_rate(cls, request_id: int, rate_hz: int) -> ControlRequest:
        return cls(Opcode.SET_RATE, request_id, SetRateParams(rate_hz))

    @classmethod
    def set_ranges(
        cls, request_id: int, acc_range: AccRange, gyro_range: GyroRange
    ) -> ControlRequest:
        return cls(Opcode.SET_RANGES, request_id, SetRangesParams(acc_range, gyro_range))

    @classmethod
    def time_sync(cls, request_id: int, host_time_us: int) -> ControlRequest:
        return cls(Opcode.TIME_SYNC, request_id, TimeSyncParams(host_time_us))

    @classmethod
    def backfill(cls, request_id: int, from_sequence: int, count: int) -> ControlRequest:
        return cls(Opcode.BACKFILL, request_id, BackfillParams(from_sequence, count))

    @classmethod
    def identify(cls, request_id: int, seconds: int) -> ControlRequest:
        return cls(Opcode.IDENTIFY, request_id, IdentifyParams(seconds))


@dataclass(frozen=True)
class TimeSyncPayload:
    """TIME_SYNC answer: the request's host time echoed (µs UTC) and the device tick at receipt."""

    host_time_us: int
    device_ticks: int

    def __post_init__(self) -> None:
        check_int("host_time_us", self.host_time_us, 0, _U64)
        check_int("device_ticks", self.device_ticks, 0, _U64)


@dataclass(frozen=True)
class BackfillPayload:
    """BACKFILL answer: first sequence that will be resent and how many packets follow."""

    first_sequence: int
    count: int

    def __post_init__(self) -> None:
        check_int("first_sequence", self.first_sequence, 0, _U16)
        check_int("backfill count", self.count, 1, _U16)


ResponsePayload = TimeSyncPayload | BackfillPayload


@dataclass(frozen=True)
class ControlResponse:
    """A control-point indication answering one request.

    ``opcode`` is an ``Opcode`` except when ``status`` is UNKNOWN_OPCODE (then the raw echoed
    byte) or INVALID_LENGTH (the write may have been too short to hold one; then 0).
    ``payload`` is set exactly for TIME_SYNC and BACKFILL answered with OK.
    """

    opcode: int
    request_id: int
    status: Status
    payload: ResponsePayload | None = None

    def __post_init__(self) -> None:
        status = to_enum(Status, self.status, "status")
        object.__setattr__(self, "status", status)
        check_int("request_id", self.request_id, 0, _U8)
        check_int("opcode", self.opcode, 0, _U8)
        if self.opcode not in Opcode._value2member_map_:
            if status in (Status.UNKNOWN_OPCODE, Status.INVALID_LENGTH):
                if self.payload is not None:
                    raise ProtocolError(f"{status.name} response must not carry a payload")
                return
            raise ProtocolError(
                f"response echoes unknown opcode 0x{self.opcode:02x} with status {status.name} "
                "(only UNKNOWN_OPCODE or INVALID_LENGTH may)"
            )
        opcode = Opcode(self.opcode)
        object.__setattr__(self, "opcode", opcode)
        if status not in ALLOWED_STATUSES[opcode]:
            raise ProtocolError(f"{opcode.name} cannot answer with status {status.name}")
        want = _payload_type(opcode, status)
        if want is None:
            if self.payload is not None:
                raise ProtocolError(
                    f"{opcode.name} response with status {status.name} carries no payload, "
                    f"got {self.payload!r}"
                )
        elif not isinstance(self.payload, want):
            raise ProtocolError(
                f"{opcode.name} OK response needs {want.__name__}, "
                f"got {type(self.payload).__name__}"
            )

    @property
    def ok(self) -> bool:
        """True if the device accepted the request."""
        return self.status == Status.OK

    @classmethod
    def answer(
        cls,
        request: ControlRequest,
        status: Status = Status.OK,
        payload: ResponsePayload | None = None,
    ) -> ControlResponse:
        """The response to ``request`` (opcode and request id echoed)."""
        return cls(request.opcode, request.request_id, status, payload)


def _payload_type(opcode: Opcode, status: Status) -> type[ResponsePayload] | None:
    if status != Status.OK:
        return None
    if opcode == Opcode.TIME_SYNC:
        return TimeSyncPayload
    if opcode == Opcode.BACKFILL:
        return BackfillPayload
    return None


def encode_request(request: ControlRequest) -> bytes:
    """Encode a control-point write."""
    if not isinstance(request, ControlRequest):
        raise ProtocolError(f"expected a ControlRequest, got {type(request).__name__}")
    head = bytes((request.opcode, request.request_id))
    p = request.params
    if p is None:
        return head
    if isinstance(p, SetRateParams):
        return head + struct.pack("<H", p.rate_hz)
    if isinstance(p, SetRangesParams):
        return head + bytes((p.acc_range, p.gyro_range))
    if isinstance(p, TimeSyncParams):
        return head + struct.pack("<Q", p.host_time_us)
    if isinstance(p, BackfillParams):
        return head + struct.pack("<HH", p.from_sequence, p.count)
    return head + bytes((p.seconds,))


def decode_request(data: bytes | bytearray | memoryview) -> ControlRequest:
    """Decode a control-point write (device side).

    Raises:
        ProtocolError: with ``status`` UNKNOWN_OPCODE, INVALID_LENGTH or INVALID_PARAMETER and
            the raw ``opcode``/``request_id`` to echo in the response. Nothing else escapes.
    """
    raw = as_bytes(data, "control request")
    if len(raw) < 2:
        raise ProtocolError(
            f"truncated control request: {len(raw)} bytes, need at least 2 (opcode, request id)",
            status=Status.INVALID_LENGTH,
            opcode=raw[0] if raw else None,
        )
    op, rid = raw[0], raw[1]
    if op not in Opcode._value2member_map_:
        raise ProtocolError(
            f"unknown opcode 0x{op:02x}", status=Status.UNKNOWN_OPCODE, opcode=op, request_id=rid
        )
    opcode = Opcode(op)
    body = raw[2:]
    if len(body) != _PARAMS_LEN[opcode]:
        raise ProtocolError(
            f"{opcode.name} request: {len(body)} parameter bytes, expected {_PARAMS_LEN[opcode]}",
            status=Status.INVALID_LENGTH,
            opcode=op,
            request_id=rid,
        )
    try:
        return ControlRequest(opcode, rid, _decode_params(opcode, body))
    except ProtocolError as exc:
        exc.status = Status.INVALID_PARAMETER
        exc.opcode = op
        exc.request_id = rid
        raise


def _decode_params(opcode: Opcode, body: bytes) -> RequestParams | None:
    if opcode == Opcode.SET_RATE:
        return SetRateParams(struct.unpack("<H", body)[0])
    if opcode == Opcode.SET_RANGES:
        return SetRangesParams(
            to_enum(AccRange, body[0], "acc range code"),
            to_enum(GyroRange, body[1], "gyro range code"),
        )
    if opcode == Opcode.TIME_SYNC:
        return TimeSyncParams(struct.unpack("<Q", body)[0])
    if opcode == Opcode.BACKFILL:
        from_sequence, count = struct.unpack("<HH", body)
        return BackfillParams(from_sequence, count)
    if opcode == Opcode.IDENTIFY:
        return IdentifyParams(body[0])
    return None


def encode_response(response: ControlResponse) -> bytes:
    """Encode a control-point indication."""
    if not isinstance(response, ControlResponse):
        raise ProtocolError(f"expected a ControlResponse, got {type(response).__name__}")
    head = bytes((RESPONSE_MARKER, response.opcode, response.request_id, response.status))
    p = response.payload
    if isinstance(p, TimeSyncPayload):
        return head + struct.pack("<QQ", p.host_time_us, p.device_ticks)
    if isinstance(p, BackfillPayload):
        return head + struct.pack("<HH", p.first_sequence, p.count)
    return head


def decode_response(data: bytes | bytearray | memoryview) -> ControlResponse:
    """Decode a control-point indication (gateway side).

    Raises:
        ProtocolError: wrong type, missing 0x80 marker, truncated, unknown status, a status the
            opcode cannot return, or a payload length that does not match. Nothing else escapes.
    """
    raw = as_bytes(data, "control response")
    if len(raw) < 4:
        raise ProtocolError(f"truncated control response: {len(raw)} bytes, need at least 4")
    if raw[0] != RESPONSE_MARKER:
        raise ProtocolError(
            f"not a control response: first byte 0x{raw[0]:02x}, expected 0x{RESPONSE_MARKER:02x}"
        )
    op, rid, st = raw[1], raw[2], raw[3]
    status = to_enum(Status, st, "status")
    body = raw[4:]
    want = _payload_type(Opcode(op), status) if op in Opcode._value2member_map_ else None
    payload: ResponsePayload | None = None
    if want is TimeSyncPayload:
        if len(body) != 16:
            raise ProtocolError(f"TIME_SYNC response payload: {len(body)} bytes, expected 16")
        payload = TimeSyncPayload(*struct.unpack("<QQ", body))
    elif want is BackfillPayload:
        if len(body) != 4:
            raise ProtocolError(f"BACKFILL response payload: {len(body)} bytes, expected 4")
        payload = BackfillPayload(*struct.unpack("<HH", body))
    elif body:
        raise ProtocolError(f"response with status {status.name}: {len(body)} unexpected bytes")
    return ControlResponse(op, rid, status, payload)
