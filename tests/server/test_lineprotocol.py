"""Line protocol encoding: pure rules, and round trips through the real influxd."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dorsi.server.lineprotocol import (
    INT64_MAX,
    INT64_MIN,
    encode_point,
    escape_key,
    format_field,
    format_int,
)
from dorsi.server.retry import BACKOFF_CAP_S, backoff_s
from tests.server.conftest import InfluxServer


def test_basic_escaping() -> None:
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"
    assert format_field('say "hi" \\ now') == '"say \\"hi\\" \\\\ now"'
    assert format_field(3) == "3i"
    assert format_field(True) == "true"
    assert format_field(0.1) == "0.1"
    line = encode_point("stride", {"side": "left", "patient": "p 1"}, {"x": 1.5, "n": None}, 7)
    assert line == "stride,patient=p\\ 1,side=left x=1.5 7"


def test_raises() -> None:
    with pytest.raises(ValueError, match="newline"):
        escape_key("a\nb")
    with pytest.raises(ValueError, match="backslash"):
        escape_key("ends\\")
    with pytest.raises(ValueError, match="not finite"):
        format_field(float("nan"))
    with pytest.raises(ValueError, match="no fields"):
        encode_point("m", {}, {"x": None}, 1)
    with pytest.raises(ValueError, match="64-bit"):
        format_field(INT64_MAX + 1)
    with pytest.raises(ValueError, match="64-bit"):
        format_int(INT64_MIN - 1)


def test_int64_limits_are_written() -> None:
    assert format_int(INT64_MAX) == "9223372036854775807i"
    assert format_field(INT64_MIN) == "-9223372036854775808i"


def test_backoff_doubles_and_caps() -> None:
    waits = [backoff_s(n) for n in range(10)]
    assert waits[0] == pytest.approx(0.1)
    assert waits[1] == pytest.approx(0.2)
    assert all(b >= a for a, b in itertools.pairwise(waits))
    assert max(waits) == BACKOFF_CAP_S
    with pytest.raises(ValueError, match="attempt"):
        backoff_s(-1)


@pytest.fixture
def influx(influxd: InfluxServer, influx_db: str) -> Iterator[tuple[httpx.Client, str]]:
    client = httpx.Client(base_url=influxd.url, auth=(influxd.username, influxd.password))
    client.post("/query", data={"q": f'CREATE DATABASE "{influx_db}"'}).raise_for_status()
    yield client, influx_db
    client.close()


_times = itertools.count(1_700_000_000_000_000)
tag_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda s: not s.endswith("\\") and s.strip() == s)
field_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
"""Any text (CR, NUL, newlines, quotes and backslashes included): influxd 1.6 keeps it exactly."""


@pytest.mark.services
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tag=tag_text,
    text=field_text,
    number=st.floats(allow_nan=False, allow_infinity=False),
    integer=st.integers(INT64_MIN, INT64_MAX),
)
@example(tag="a,b=c d", text='x" 1\nm,tag=y s="z" 2\r\n\\', number=0.0, integer=INT64_MAX)
def test_roundtrip_through_influxd(
    influx: tuple[httpx.Client, str], tag: str, text: str, number: float, integer: int
) -> None:
    """Whatever we escape, influxd stores and returns exactly."""
    client, db = influx
    ts = next(_times)
    line = encode_point("m", {"tag": tag}, {"s": text, "x": number, "n": integer}, ts)
    response = client.post("/write", params={"db": db, "precision": "u"}, content=line.encode())
    assert response.status_code == 204, (line, response.text)
    result = client.post(
        "/query",
        params={"db": db, "epoch": "u"},
        data={"q": f'SELECT * FROM "m" WHERE time = {ts * 1000}'},
    ).json()
    series = result["results"][0]["series"][0]
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert row["tag"] == tag
    assert row["s"] == text
    assert float(row["x"]) == number  # influxd may print a float without a decimal point
    assert row["n"] == integer
