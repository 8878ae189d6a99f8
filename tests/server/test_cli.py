"""The dorsi-server CLI: help everywhere, registry commands, CSV import, Mosquitto ACL, settings."""

from __future__ import annotations

import csv
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from dorsi.server.cli import build_parser, main
from dorsi.server.registry import Registry
from dorsi.server.settings import Settings, load_settings
from dorsi.server.sqlite_store import SQLiteStore
from dorsi.server.synthetic import synthetic_strides
from tests.conftest import MosquittoBroker

COMMANDS = [
    "run",
    "ingest",
    "create-user",
    "add-patient",
    "pair-device",
    "import",
    "mqtt-acl",
    "audit",
]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DORSI_REGISTRY_PATH", str(tmp_path / "registry.sqlite"))
    monkeypatch.setenv("DORSI_STORE__SQLITE_PATH", str(tmp_path / "data.sqlite"))
    monkeypatch.setenv("SERVER_PW", "server password 123")
    return tmp_path


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_everywhere(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"] if command else ["--help"])
    assert exit_info.value.code == 0
    assert "usage: dorsi-server" in capsys.readouterr().out
    assert set(COMMANDS) <= set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_registry_commands(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALICE_PW", "alice password 1")
    assert main(["create-user", "alice", "--password-env", "ALICE_PW"]) == 0
    assert main(["create-user", "alice", "--password-env", "ALICE_PW"]) == 1
    assert "taken" in capsys.readouterr().err
    assert (
        main(["add-patient", "p-1", "--name", "Ann", "--side", "left", "--therapist", "alice"]) == 0
    )
    assert main(["pair-device", "dorsi-aa01", "p-1", "--side", "left"]) == 0
    assert main(["pair-device", "dorsi-bad", "p-none", "--side", "left"]) == 1
    registry = Registry(env / "registry.sqlite")
    user = registry.authenticate("alice", "alice password 1")
    assert user is not None
    assert [p.id for p in registry.patients_for(user)] == ["p-1"]
    assert [d.id for d in registry.devices("p-1")] == ["dorsi-aa01"]
    registry.close()


def test_import_csv_validates_and_is_idempotent(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = synthetic_strides(1200, start=datetime(2026, 3, 1, 8, tzinfo=UTC), seed=5)
    rows[700]["stride_time_s"] = 30.0
    path = env / "strides.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    args = ["import", str(path), "--patient", "p-1", "--device", "dorsi-aa01", "--side", "left"]
    assert main(args) == 1  # one row refused
    captured = capsys.readouterr()
    assert "stored 1199 strides, refused 1" in captured.out
    assert "line 702: strides[200].stride_time_s: 30.0 is above the maximum 4.0" in captured.err
    assert main(args) == 1
    store = SQLiteStore(env / "data.sqlite")
    page = store.query_strides(
        "p-1", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), limit=5000
    )
    assert len(page.records) == 1199
    rollups = store.query_rollups("p-1", datetime(2026, 3, 1).date(), datetime(2026, 3, 2).date())
    assert sum(r.strides for r in rollups) == 1199
    store.close()


def test_settings_refuse_placeholders_outside_development(tmp_path: Path) -> None:
    assert Settings().environment == "development"
    with pytest.raises(ValueError, match="secret_key must be at least 32"):
        Settings(environment="production", secret_key="short")
    with pytest.raises(ValueError, match=r"mqtt\.password is a placeholder"):
        Settings.model_validate(
            {"environment": "production", "secret_key": "x" * 40, "mqtt": {"password": "change-me"}}
        )
    config = tmp_path / "dorsi.toml"
    config.write_text(
        'environment = "production"\nsecret_key = "' + "k" * 40 + '"\n[store]\nkind = "influx"\n'
    )
    settings = load_settings(config, {"DORSI_STORE__INFLUX_DATABASE": "clinic", "OTHER": "x"})
    assert settings.store.kind == "influx"
    assert settings.store.influx_database == "clinic"
    with pytest.raises(ValueError, match="kind"):
        load_settings(config, {"DORSI_STORE__KIND": "mongodb"})


@pytest.mark.services
def test_run_serves_api_and_ingests(env: Path, mosquitto: MosquittoBroker) -> None:
    """`dorsi-server run`: the API answers and a published stride reaches the store."""
    import subprocess
    import sys

    import httpx

    from dorsi.server.synthetic import strides_payload
    from tests.conftest import free_port, wait_for_port

    port = free_port()
    proc_env = dict(os.environ, DORSI_HTTP_PORT=str(port), DORSI_MQTT__PORT=str(mosquitto.port))
    log = (env / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dorsi.server.cli", "run"], env=proc_env, stdout=log, stderr=log
    )
    try:
        wait_for_port(port, timeout_s=20)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/patients").status_code == 401
        stride = synthetic_strides(1, start=datetime.now(UTC).replace(microsecond=0), seed=1)
        publisher = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5
        )
        publisher.connect("127.0.0.1", mosquitto.port)
        publisher.loop_start()
        deadline = time.monotonic() + 20
        ingested = 0
        while not ingested and time.monotonic() < deadline:
            publisher.publish(
                "dorsi/v1/p-1/dorsi-aa01/strides",
                strides_payload("p-1", "dorsi-aa01", "left", stride),
                qos=1,
            ).wait_for_publish(5)
            time.sleep(0.5)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            ingested = int(metrics.split("\ndorsi_strides_ingested_total ")[1].split()[0])
        publisher.disconnect()
        publisher.loop_stop()
        assert ingested >= 1
    finally:
        proc.terminate()
        proc.wait(20)
    store = SQLiteStore(env / "data.sqlite")
    assert store.last_stride_t("p-1") == stride[0]["ic_t"]
    store.close()


def test_import_of_dorsi_signal_analyze_output(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """simulate → `dorsi-signal analyze` → `dorsi-server import --start`: every stride stored."""
    import subprocess
    import sys

    walk = env / "walk"
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [
            bin_dir / "dorsi-sensor",
            "simulate",
            "--scenario",
            "footdrop_mild",
            "--seconds",
            "60",
            "--out",
            str(walk),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            bin_dir / "dorsi-signal",
            "analyze",
            str(walk / "imu.csv"),
            "--out",
            str(walk / "strides.csv"),
        ],
        check=True,
        capture_output=True,
    )
    with (walk / "strides.csv").open() as handle:
        analysed = list(csv.DictReader(handle))
    args = [
        "import",
        str(walk / "strides.csv"),
        "--patient",
        "p-1",
        "--device",
        "dorsi-aa01",
        "--side",
        "left",
    ]
    with pytest.raises(SystemExit):
        main([*args, "--start", "2026-05-04T09:00:00"])
    assert "has no time zone; add Z for UTC" in capsys.readouterr().err
    assert main([*args, "--start", "2026-05-04T09:00:00Z"]) == 0, capsys.readouterr().err
    assert f"stored {len(analysed)} strides, refused 0" in capsys.readouterr().out
    store = SQLiteStore(env / "data.sqlite")
    page = store.query_strides(
        "p-1", datetime(2026, 5, 4, tzinfo=UTC), datetime(2026, 5, 5, tzinfo=UTC), limit=5000
    )
    store.close()
    assert len(page.records) == len(analysed) > 30
    first = datetime(2026, 5, 4, 9, tzinfo=UTC).timestamp() + float(analysed[0]["ic_t"])
    assert (
        abs(
            datetime.fromisoformat(page.records[0].stride.ic_t.replace("Z", "+00:00")).timestamp()
            - first
        )
        < 1e-5
    )
