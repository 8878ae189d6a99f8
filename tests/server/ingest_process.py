"""Start ``dorsi-server ingest`` as its own process, configured through the environment, on a
real Mosquitto and a real influxd (as a supervisor would run it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dorsi.server.influx_store import InfluxConfig


def start_ingest(
    mqtt_port: int, influx: InfluxConfig, client_id: str, log: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """``dorsi-server ingest`` appending its output to ``log``; ``settings`` are more
    ``DORSI_…`` variables, e.g. ``DORSI_MQTT__WORKER_INDEX="1"``."""
    env = dict(
        os.environ,
        DORSI_STORE__KIND="influx",
        DORSI_STORE__INFLUX_URL=influx.url,
        DORSI_STORE__INFLUX_DATABASE=influx.database,
        DORSI_STORE__INFLUX_USERNAME=influx.username or "",
        DORSI_STORE__INFLUX_PASSWORD=influx.password or "",
        DORSI_MQTT__PORT=str(mqtt_port),
        DORSI_MQTT__CLIENT_ID=client_id,
        **settings,
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dorsi.server.cli", "--log-level", "WARNING", "ingest"],
            env=env,
            stdout=out,
            stderr=out,
        )
