"""Control-point codec: request/response layouts, round trips, statuses and malformed writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dorsi.firmware_protocol import (
    ALLOWED_STATUSES,
    SUPPORTED_RATES_HZ,
    AccRange,
    BackfillPayload,
    ControlRequest,
    ControlResponse,
    GyroRange,
    Opcode,
    ProtocolError,
    Status,
    TimeSyncPayload,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)

request_ids = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
u64 = st.integers(0, 2**64 - 1)

requests = st.one_of(
    st.builds(ControlRequest.start_stream, request_ids),
    st.builds(ControlRequest.stop_stream, request_ids),
    st.builds(ControlRequest.set_rate, request_ids, st.sampled_from(SUPPORTED_RATES_HZ)),
    st.builds(
        ControlRequest.set_ranges,
        request_ids,
        st.sampled_from(AccRange),
        st.sampled_from(GyroRange),
    ),
    st.builds(ControlRequest.time_sync, request_ids, u64),
    st.builds(ControlRequest.backfill, request_ids, u16, st.integers(1, 0xFFFF)),
    st.builds(ControlRequest.identify, request_ids, st.integers(0, 255)),
)


@st.composite
def responses(draw: st.DrawFn) -> ControlResponse:
    request = draw(requests)
    status = draw(st.sampled_from(sorted(ALLOWED_STATUSES[request.opcode])))
    payload: TimeSyncPayload | BackfillPayload | None = None
    if status == Status.OK and request.opcode == Opcode.TIME_SYNC:
        payload = TimeSyncPayload(draw(u64), draw(u64))
    elif status == Status.OK and request.opcode == Opcode.BACKFILL:
        payload = BackfillPayload(draw(u16), draw(st.integers(1, 0xFFFF)))
    return ControlResponse.answer(request, status, payload)


@given(requests)
def test_request_round_trip(request: ControlRequest) -> None:
    data = encode_request(request)
    assert data[0] == request.opcode
    assert data[1] == request.request_id
    assert decode_request(data) == request
    assert decode_request(memoryview(bytearray(data))) == request


@given(responses())
def test_response_round_trip(response: ControlResponse) -> None:
    data = encode_response(response)
    assert data[:4] == bytes((0x80, response.opcode, response.request_id, response.status))
    assert decode_response(data) == response


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (ControlRequest.start_stream(9), "0109"),
        (ControlRequest.stop_stream(10), "020a"),
        (ControlRequest.set_rate(1, 208), "0301d000"),
        (ControlRequest.set_ranges(2, AccRange.G16, GyroRange.DPS2000), "04020303"),
        (ControlRequest.time_sync(3, 0x0102030405060708), "05030807060504030201"),
        (ControlRequest.backfill(4, 0xFFFE, 300), "0604feff2c01"),
        (ControlRequest.identify(5, 10), "07050a"),
    ],
)
def test_request_layouts(request_: ControlRequest, expected: str) -> None:
    assert encode_request(request_).hex() == expected


def test_response_layouts() -> None:
    ts = ControlResponse.answer(ControlRequest.time_sync(7, 1), payload=TimeSyncPayload(1, 2**40))
    assert encode_response(ts).hex() == "80050700" + "0100000000000000" + "0000000000010000"
    bf = ControlResponse.answer(ControlRequest.backfill(8, 5, 10), payload=BackfillPayload(6, 9))
    assert encode_response(bf).hex() == "8006080006000900"
    refused = ControlResponse.answer(ControlRequest.backfill(8, 5, 10), Status.BACKFILL_UNAVAILABLE)
    assert encode_response(refused).hex() == "80060805"
    assert not refused.ok
    assert ts.ok


@pytest.mark.parametrize(
    ("data", "status", "opcode", "request_id", "message"),
    [
        (b"", Status.INVALID_LENGTH, None, None, r"truncated control request: 0 bytes"),
        (b"\x01", Status.INVALID_LENGTH, 1, None, r"truncated control request: 1 bytes"),
        (b"\x09\x05", Status.UNKNOWN_OPCODE, 9, 5, r"unknown opcode 0x09"),
        (b"\x00\x05", Status.UNKNOWN_OPCODE, 0, 5, r"unknown opcode 0x00"),
        (b"\x01\x05\x00", Status.INVALID_LENGTH, 1, 5, r"START_STREAM request: 1 parameter bytes"),
        (b"\x03\x06\xd0", Status.INVALID_LENGTH, 3, 6, r"SET_RATE request: 1 parameter bytes, "),
        (b"\x05\x06" + bytes(7), Status.INVALID_LENGTH, 5, 6, r"TIME_SYNC request: 7 parameter"),
        (b"\x03\x06\x64\x00", Status.INVALID_PARAMETER, 3, 6, r"unsupported sample rate 100 Hz"),
        (b"\x04\x07\x04\x00", Status.INVALID_PARAMETER, 4, 7, r"invalid acc range code 4"),
        (b"\x04\x07\x00\x05", Status.INVALID_PARAMETER, 4, 7, r"invalid gyro range code 5"),
        (b"\x06\x08\x00\x00\x00\x00", Status.INVALID_PARAMETER, 6, 8, r"backfill count 0 out of"),
    ],
)
def test_decode_request_raises_with_status_to_answer(
    data: bytes, status: Status, opcode: int | None, request_id: int | None, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        decode_request(data)
    assert info.value.status == status
    assert info.value.opcode == opcode
    assert info.value.request_id == request_id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x01\x02", r"truncated control response: 3 bytes"),
        (b"\x81\x01\x02\x00", r"not a control response: first byte 0x81"),
        (b"\x80\x01\x02\x09", r"invalid status 9"),
        (b"\x80\x01\x02\x03", r"START_STREAM cannot answer with status INVALID_PARAMETER"),
        (b"\x80\x09\x02\x00", r"unknown opcode 0x09 with status OK"),
        (b"\x80\x05\x02\x00" + bytes(15), r"TIME_SYNC response payload: 15 bytes, expected 16"),
        (b"\x80\x06\x02\x00" + bytes(5), r"BACKFILL response payload: 5 bytes, expected 4"),
        (b"\x80\x06\x02\x00\x00\x00\x00\x00", r"backfill count 0 out of range"),
        (b"\x80\x06\x02\x05\x00", r"status BACKFILL_UNAVAILABLE: 1 unexpected bytes"),
        (b"\x80\x01\x02\x00\x00", r"status OK: 1 unexpected bytes"),
        ("80010200", r"control response: expected bytes, bytearray or memoryview, got str"),
    ],
)
def test_decode_response_raises(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_response(data)


def test_unknown_opcode_response_round_trips_raw_opcode() -> None:
    response = decode_response(b"\x80\x09\x02\x01")
    assert response.status == Status.UNKNOWN_OPCODE
    assert response.opcode == 9
    assert encode_response(response) == b"\x80\x09\x02\x01"


def test_request_params_must_match_opcode() -> None:
    with pytest.raises(ProtocolError, match=r"SET_RATE needs SetRateParams, got NoneType"):
        ControlRequest(Opcode.SET_RATE, 1)
    with pytest.raises(ProtocolError, match=r"request_id 256 out of range"):
        ControlRequest.start_stream(256)
    with pytest.raises(ProtocolError, match=r"invalid opcode 99"):
        ControlRequest(99, 1)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match=r"TIME_SYNC OK response needs TimeSyncPayload"):
        ControlResponse.answer(ControlRequest.time_sync(1, 5))
