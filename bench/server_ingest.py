"""Ingest throughput: strides/s from MQTT into InfluxDB (prints figures, asserts nothing).

Starts a real influxd and a real Mosquitto on free loopback ports (the test fixtures' classes),
then measures in one run:

1. ``raw``: pre-encoded line protocol POSTed to `/write` in 5000-point batches (the ceiling);
2. ``store``: `InfluxStore.write_strides` (record → line protocol → `/write`);
3. ``mqtt x1`` / ``mqtt x2``: messages of 500 strides queued in the broker for the workers'
   persistent sessions, then one (two) `IngestWorker` drain them; strides/s from worker start to
   the last acknowledgement, checked against the stored count.

Usage: ``.venv/bin/python bench/server_ingest.py [--strides 100000]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dorsi.server.influx_store import InfluxConfig, InfluxStore, _stride_fields  # noqa: E402
from dorsi.server.ingest import IngestOptions, IngestWorker, MqttConfig  # noqa: E402
from dorsi.server.lineprotocol import encode_point  # noqa: E402
from dorsi.server.schema import Stride  # noqa: E402
from dorsi.server.store import StrideRecord  # noqa: E402
from dorsi.server.synthetic import iter_strides, strides_payload  # noqa: E402
from tests.conftest import MosquittoBroker  # noqa: E402
from tests.server.conftest import InfluxServer  # noqa: E402

PER_MESSAGE = 500
TIMEOUT_S = 300.0


def count(store: InfluxStore) -> int:
    series = store.query('SELECT count("quality") FROM "stride"')
    return int(series[0]["values"][0][1]) if series else 0


def fresh_store(influxd: InfluxServer) -> InfluxStore:
    store = InfluxStore(
        InfluxConfig(
            url=influxd.url,
            database=f"bench_{uuid.uuid4().hex[:8]}",
            username=influxd.username,
            password=influxd.password,
        )
    )
    store.bootstrap()
    return store


def bench_raw(influxd: InfluxServer, records: list[StrideRecord]) -> float:
    store = fresh_store(influxd)
    lines = [
        encode_point(
            "stride",
            {"patient": r.patient, "device": r.device, "side": r.side},
            _stride_fields(r),
            r.ic_us,
        )
        for r in records
    ]
    bodies = [("\n".join(lines[i : i + 5000]) + "\n").encode() for i in range(0, len(lines), 5000)]
    client = httpx.Client(base_url=influxd.url, auth=(influxd.username, influxd.password))
    began = time.perf_counter()
    for body in bodies:
        client.post(
            "/write", params={"db": store.config.database, "precision": "u"}, content=body
        ).raise_for_status()
    elapsed = time.perf_counter() - began
    assert count(store) == len(records)
    return len(records) / elapsed


def bench_store(influxd: InfluxServer, records: list[StrideRecord]) -> float:
    store = fresh_store(influxd)
    began = time.perf_counter()
    store.write_strides(records)
    elapsed = time.perf_counter() - began
    assert count(store) == len(records)
    return len(records) / elapsed


def bench_mqtt(
    influxd: InfluxServer,
    broker: MosquittoBroker,
    payloads: list[bytes],
    n_strides: int,
    workers: int,
) -> tuple[float, list[int]]:
    store = fresh_store(influxd)
    tag = uuid.uuid4().hex[:6]
    configs = [
        MqttConfig(port=broker.port, client_id=f"bench-{tag}-{i}", receive_maximum=200)
        for i in range(workers)
    ]
    options = IngestOptions(rollup_interval_s=3600)
    for config in configs:  # create the persistent sessions and their shared subscriptions
        w = IngestWorker(store, config, options=options)
        w.start()
        w.wait_connected()
        time.sleep(0.3)
        w.stop()
    pub = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"pub-{tag}",
        protocol=mqtt.MQTTv5,
    )
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    infos = [pub.publish("dorsi/v1/p-bench/dorsi-bench/strides", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()
    running = [IngestWorker(store, c, options=options) for c in configs]
    began = time.perf_counter()
    for w in running:
        w.start()
    deadline = began + TIMEOUT_S
    while sum(w.metrics.messages_acked for w in running) < len(payloads):
        if time.perf_counter() > deadline:
            acked = [w.metrics.messages_acked for w in running]
            raise TimeoutError(f"only {acked} of {len(payloads)} messages acknowledged")
        time.sleep(0.01)
    elapsed = time.perf_counter() - began
    shares = [w.metrics.messages_received for w in running]
    for w in running:
        w.stop(retire=True)  # else the next phase's share group still includes these sessions
    stored = count(store)
    assert stored == n_strides, (stored, n_strides)
    return n_strides / elapsed, shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strides", type=int, default=100_000)
    args = parser.parse_args()
    n = args.strides - args.strides % PER_MESSAGE
    start = datetime.now(UTC) - timedelta(days=20)
    raw = list(iter_strides(n, start=start, seed=1))
    records = [
        StrideRecord("p-bench", "dorsi-bench", "left", "gw", "alg", Stride.model_validate(s))
        for s in raw
    ]
    payloads = [
        strides_payload("p-bench", "dorsi-bench", "left", raw[i : i + PER_MESSAGE])
        for i in range(0, n, PER_MESSAGE)
    ]
    with (
        tempfile.TemporaryDirectory(prefix="bench-influxd-") as tmp_i,
        tempfile.TemporaryDirectory(prefix="bench-mosquitto-") as tmp_m,
    ):
        influxd = InfluxServer(Path(tmp_i))
        influxd.start()
        influxd.create_admin()
        broker = MosquittoBroker(Path(tmp_m))
        broker.start()
        try:
            bench_raw(influxd, records[: len(records) // 4])  # warm up influxd
            raw_rate = bench_raw(influxd, records)
            print(f"raw done: {raw_rate:.0f}/s", file=sys.stderr, flush=True)
            store_rate = bench_store(influxd, records)
            print(f"store done: {store_rate:.0f}/s", file=sys.stderr, flush=True)
            one, _ = bench_mqtt(influxd, broker, payloads, n, 1)
            print(f"mqtt x1 done: {one:.0f}/s", file=sys.stderr, flush=True)
            two, shares = bench_mqtt(influxd, broker, payloads, n, 2)
        finally:
            broker.kill()
            influxd.kill()
    print(f"strides: {n} in {len(payloads)} messages of {PER_MESSAGE}; influxd 1.6.7, 2 cores")
    print(f"raw line protocol /write : {raw_rate:10.0f} strides/s")
    ratio = store_rate / raw_rate
    print(f"InfluxStore.write_strides: {store_rate:10.0f} strides/s ({ratio:.2f} of raw)")
    print(f"MQTT ingest, 1 worker    : {one:10.0f} strides/s ({one / raw_rate:.2f} of raw)")
    print(
        f"MQTT ingest, 2 workers   : {two:10.0f} strides/s ({two / raw_rate:.2f} of raw); "
        f"messages per worker {shares}"
    )


if __name__ == "__main__":
    main()
