"""Gateway configuration: TOML + environment, with errors that say what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from dorsi.gateway.config import ConfigError, load_config, parse_config

MINIMAL = {
    "gateway_id": "gw-1",
    "patient": "p-7f3a",
    "broker": {"url": "mqtt://127.0.0.1:1883"},
    "sensors": [{"side": "left", "device": "dorsi-1a2b"}],
}


def test_basic(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        'gateway_id = "gw-1"\npatient = "p-7f3a"\n[broker]\nurl = "mqtts://clinic:8883"\n'
        'password_file = "' + str(tmp_path / "pw") + '"\n'
        '[[sensors]]\ndevice = "dorsi-1"\nside = "left"\n'
        '[[sensors]]\ndevice = "dorsi-2"\nside = "right"\nrate_hz = 208\npassword = "own"\n'
    )
    (tmp_path / "pw").write_text("s3cret\n")
    config = load_config(path, env={})
    left, right = config.sensors
    assert left.broker.tls
    assert left.broker.port == 8883
    assert left.broker.password == "s3cret"
    assert right.broker.password == "own", "a sensor may have its own broker credentials"
    assert left.broker.client_id == "dorsi-dorsi-1", "one MQTT client id per device"
    assert (left.side, right.side) == ("left", "right")
    assert right.rate_hz == 208
    assert config.outbox_path(right).name == "outbox-dorsi-2.db"


def test_environment_overrides_the_file() -> None:
    env = {"DORSI_BROKER_URL": "mqtt://other:1884", "DORSI_BROKER_PASSWORD": "pw"}
    config = parse_config(MINIMAL, env={**env, "DORSI_STATE_DIR": "/tmp/x"})
    broker = config.sensors[0].broker
    assert broker.host == "other"
    assert broker.port == 1884
    assert broker.password == "pw"
    assert str(config.state_dir) == "/tmp/x"
    assert broker.protocol == "5"
    legacy = parse_config({**MINIMAL, "broker": {"url": "mqtt://b", "protocol": "3.1.1"}}, env={})
    assert legacy.sensors[0].broker.protocol == "3.1.1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"patient": "p/1"}, "not valid"),
        ({"patient": None}, "patient is required"),
        ({"broker": {"url": "http://x"}}, "mqtt://host:1883"),
        ({"sensors": []}, "at least one"),
        ({"sensors": [{"device": "d", "side": "up"}]}, 'side must be "left" or "right"'),
        ({"sensors": [{"device": "d", "side": "left", "rate_hz": 100}]}, "rate_hz must be one"),
        ({"sensors": [{"side": "left"}]}, "device is required"),
        ({"sensors": [{"device": "a b", "side": "left"}]}, "not valid"),
        (
            {"sensors": [{"device": "a", "side": "left"}, {"device": "b", "side": "left"}]},
            "same side",
        ),
        ({"sensors": [{"device": "d", "side": "left", "adress": "x"}]}, "did you mean 'address'"),
        ({"sensors": [{"device": "d", "side": "left", "mounting": "x"}]}, "mounting must be"),
        ({"brokr": {}}, "did you mean 'broker'"),
        ({"outbox": {"max_mb": "a lot"}}, "must be a whole number"),
        ({"broker": {"url": "mqtt://x", "protocol": "4"}}, "MQTT protocol '4' must be one of"),
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


def test_shipped_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "gateway" / "deploy" / "gateway.example.toml"
    text = example.read_text().replace("/etc/dorsi/dorsi-1a2b.password", str(tmp_path / "pw"))
    (tmp_path / "pw").write_text("secret")
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    config = load_config(path, env={})
    assert config.sensors[0].broker.password == "secret"
    assert config.sensors[0].broker.tls


def test_systemd_unit_is_valid() -> None:
    import shutil
    import subprocess

    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    unit = Path(__file__).resolve().parents[2] / "gateway" / "deploy" / "dorsi-gateway.service"
    out = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, check=False)
    problems = [
        line
        for line in (out.stdout + out.stderr).splitlines()
        if line.strip() and "is not executable" not in line  # not installed on this machine
    ]
    assert not problems, problems
