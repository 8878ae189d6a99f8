"""The healthy simulation looks like the real foot-IMU recording it was shaped after.

Summary features per stride, compared as medians over strides (both feet of the real
recording, several seeds of the simulation) within stated tolerances:

- gyr_y push-off peak (max in the 0.3 s before toe-off): ±15 %, and within +450..+650 deg/s
- gyr_y swing plateau (median over the middle third of swing): ±15 %, and −250..−400 deg/s
- gyr_y loading peak (max in the 0.15 s after IC): ±25 %, and +220..+420 deg/s
- stride time: ±8 %
- |acc| percentiles during walking (5th, 50th, 95th): ±25 %; 99th (impacts): ±60 %
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from dorsi.firmware_protocol.sim import simulate

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gaitmap_example"
RATE_HZ = 204.8


def _require_data() -> Path:
    if not (DATA / "imu_sample.csv").exists():
        message = f"real recording not found at {DATA}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return DATA


def _features(
    gyr_y: np.ndarray, acc: np.ndarray, strides: list[tuple[float, float, float]]
) -> dict[str, float]:
    """Median per-stride features; strides as (ic_t, to_t, next_ic_t) in s."""
    push, swing, load, period = [], [], [], []
    for ic, to, nic in strides:
        i_to, i_nic = round(to * RATE_HZ), round(nic * RATE_HZ)
        push.append(gyr_y[i_to - round(0.3 * RATE_HZ) : i_to + 10].max())
        n = i_nic - i_to
        swing.append(np.median(gyr_y[i_to + n // 3 : i_to + 2 * n // 3]))
        load.append(gyr_y[i_nic : i_nic + round(0.15 * RATE_HZ)].max())
        period.append(nic - ic)
    first, last = round(strides[0][0] * RATE_HZ), round(strides[-1][2] * RATE_HZ)
    norm = np.linalg.norm(acc[first:last], axis=1)
    out = {
        "push_off_dps": float(np.median(push)),
        "swing_dps": float(np.median(swing)),
        "loading_dps": float(np.median(load)),
        "stride_time_s": float(np.median(period)),
    }
    for q in (5, 50, 95, 99):
        out[f"acc_p{q}"] = float(np.percentile(norm, q))
    return out


def _real_features(data: Path) -> list[dict[str, float]]:
    with (data / "imu_sample.csv").open() as fh:
        rows = list(csv.reader(fh))
    sensors, axes, x = rows[0], rows[1], np.array(rows[2:], dtype=float)
    with (data / "stride_events_sample.csv").open() as fh:
        events = list(csv.DictReader(fh))
    out = []
    for foot in ("left", "right"):
        col = {axes[i]: i for i in range(1, len(axes)) if sensors[i] == f"{foot}_sensor"}
        acc = x[:, [col["acc_x"], col["acc_y"], col["acc_z"]]]
        strides = [
            (float(e["pre_ic"]) / RATE_HZ, float(e["tc"]) / RATE_HZ, float(e["ic"]) / RATE_HZ)
            for e in events
            if e["foot"] == foot
        ]
        out.append(_features(x[:, col["gyr_y"]], acc, strides))
    return out


def test_healthy_simulation_resembles_real_recording() -> None:
    real = _real_features(_require_data())
    sims = []
    for seed in range(3):
        rec = simulate("healthy", seconds=45.0, rate_hz=RATE_HZ, seed=seed)
        strides = [(s.ic_t, s.to_t, s.next_ic_t) for s in rec.strides]
        sims.append(_features(rec.gyr_dps[:, 1], rec.acc_mps2, strides))
    r = {k: float(np.mean([f[k] for f in real])) for k in real[0]}
    s = {k: float(np.mean([f[k] for f in sims])) for k in sims[0]}
    report = "\n".join(f"{k}: real {r[k]:.2f}, sim {s[k]:.2f}" for k in r)

    def close(key: str, rel: float) -> bool:
        return abs(s[key] - r[key]) <= rel * abs(r[key])

    assert close("push_off_dps", 0.15), report
    assert 450 <= s["push_off_dps"] <= 650, report
    assert close("swing_dps", 0.15), report
    assert -400 <= s["swing_dps"] <= -250, report
    assert close("loading_dps", 0.25), report
    assert 220 <= s["loading_dps"] <= 420, report
    assert close("stride_time_s", 0.08), report
    for key in ("acc_p5", "acc_p50", "acc_p95"):
        assert close(key, 0.25), report
    assert close("acc_p99", 0.6), report
