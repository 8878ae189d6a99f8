"""Gateway configuration: TOML + environment, with errors that say what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from dorsi.gateway.config import ConfigError, load_config, parse_config

MINIMAL = {
    "gateway_id": "gw-1",
    "patient": "p-7f3a",
    "broker": {"url": "mqtt://127.0.0.1:1883"},
    "sensors": [{"side": "left", "name": "dorsi-1a2b"}],
}


def test_basic(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        'gateway_id = "gw-1"\npatient = "p-7f3a"\n[broker]\nurl = "mqtts://clinic:8883"\n'
        'password_file = "' + str(tmp_path / "pw") + '"\n'
        '[[sensors]]\nside = "left"\n[[sensors]]\nside = "right"\nrate_hz = 208\n'
    )
    (tmp_path / "pw").write_text("s3cret\n")
    config = load_config(path, env={})
    assert config.broker.tls
    assert config.broker.port == 8883
    assert config.broker.password == "s3cret"
    assert config.broker.client_id == "dorsi-gw-gw-1"
    assert [s.side for s in config.sensors] == ["left", "right"]
    assert config.sensors[1].rate_hz == 208


def test_environment_overrides_the_file() -> None:
    env = {"DORSI_BROKER_URL": "mqtt://other:1884", "DORSI_BROKER_PASSWORD": "pw"}
    config = parse_config(MINIMAL, env=env)
    assert config.broker.host == "other"
    assert config.broker.port == 1884
    assert config.broker.password == "pw"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"patient": "p/1"}, "not valid"),
        ({"patient": None}, "patient is required"),
        ({"broker": {"url": "http://x"}}, "mqtt://host:1883"),
        ({"sensors": []}, "at least one"),
        ({"sensors": [{"side": "up"}]}, 'side must be "left" or "right"'),
        ({"sensors": [{"side": "left", "rate_hz": 100}]}, "rate_hz must be one of"),
        ({"sensors": [{"side": "left"}, {"side": "left"}]}, "same side"),
        ({"sensors": [{"side": "left", "adress": "x"}]}, "did you mean 'address'"),
        ({"brokr": {}}, "did you mean 'broker'"),
        ({"outbox": {"max_mb": "a lot"}}, "must be a whole number"),
    ],
)
def test_raises(change: dict[str, object], message: str) -> None:
    data = {**MINIMAL, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        parse_config(data, env={})


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("patient = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, env={})
