#!/usr/bin/env python3
"""Derive the simulator's stride template from the real gaitmap example recording.

Input: ``../shared/data/gaitmap_example/`` (gaitmap example data, MIT; one healthy adult, IMU on
the lateral side of each shoe, 204.8 Hz, mocap-derived stride events and heel trajectories).
Output: ``firmware_protocol/dorsi/firmware_protocol/sim/stride_template.json``.

The template is one mid-stance → mid-stance cycle (left-foot convention, body-aligned frame: x
toward the toes, y to the foot's left, z up when flat), time-normalised to a phase 0..1:

- foot orientation (pitch, roll, yaw in deg; ``R = Rz(yaw) · Ry(−pitch) · Rx(roll)``, world ← foot)
  from the registered, averaged IMU angular rate, integrated over phase and closed so the foot is
  flat with unchanged heading at both ends. (The mocap quaternions agree on pitch but are too
  noisy for roll and yaw: their roll/yaw rates correlate with the gyro at only r ≈ 0.6 / 0.1.)
- heel-marker trajectory (m) from the mocap, rotated into each stride's direction of travel.
- event phases: toe-off (TO), initial contact (IC) and foot-flat (FF) after IC.

Strides are registered on two sharp IMU landmarks (the gyr_y zero crossings at toe-off and at
the end of swing, just before IC) and the mid-stance borders; right-foot strides are mirrored into
the left-foot convention (roll, yaw, gyr_x, gyr_z, y positions flip sign) and averaged with the
left.
Turning strides (stride end displacement < 1 m) are excluded.

Run from the repo root: ``.venv/bin/python scripts/build_stride_templates.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.signal import butter, sosfiltfilt
from scipy.spatial.transform import Rotation

Array = NDArray[np.float64]
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gaitmap_example"
OUT = ROOT / "firmware_protocol" / "dorsi" / "firmware_protocol" / "sim" / "stride_template.json"
IMU_RATE_HZ = 204.8
MOCAP_RATE_HZ = 100.0
N_TEMPLATE = 200
N_FINE = 4000
HEEL_LOWPASS_HZ = 15.0
MIRROR = np.array([1.0, -1.0, 1.0])  # body y flips between feet; pseudo-vectors flip x and z


def _read_imu(path: Path) -> dict[str, tuple[Array, Array]]:
    """Return foot -> (acc m/s² (N,3), gyr deg/s (N,3)) in the recording's body-aligned frame."""
    with path.open() as fh:
        rows = list(csv.reader(fh))
    sensors, axes = rows[0], rows[1]
    data = np.array(rows[2:], dtype=np.float64)
    out: dict[str, tuple[Array, Array]] = {}
    for foot in ("left", "right"):
        idx = {axes[i]: i for i in range(1, len(axes)) if sensors[i] == f"{foot}_sensor"}
        acc = data[:, [idx["acc_x"], idx["acc_y"], idx["acc_z"]]]
        gyr = data[:, [idx["gyr_x"], idx["gyr_y"], idx["gyr_z"]]]
        out[foot] = (acc, gyr)
    return out


def _read_positions(path: Path) -> dict[tuple[str, int], Array]:
    with path.open() as fh:
        rows = list(csv.reader(fh))[1:]
    out: dict[tuple[str, int], list[list[float]]] = {}
    for r in rows:
        out.setdefault((r[0].removesuffix("_sensor"), int(r[1])), []).append(
            [float(v) for v in r[3:6]]
        )
    return {k: np.array(v) for k, v in out.items()}


def _first_crossing(x: Array, start: int, stop: int, rising: bool) -> float:
    """Fractional index of the first zero crossing of ``x`` in [start, stop)."""
    for i in range(start, stop - 1):
        a, b = x[i], x[i + 1]
        if (rising and a < 0 <= b) or (not rising and a > 0 >= b):
            return float(i + a / (a - b))
    raise ValueError(f"no zero crossing in samples {start}..{stop}")


def _smootherstep(u: Array) -> Array:
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (u * (6.0 * u - 15.0) + 10.0)


def _integrate(rate_rad: Array, dphi: float) -> Rotation:
    """Integrate body rates (rad per unit phase) from identity; one rotation per grid point."""
    steps = Rotation.from_rotvec(0.5 * (rate_rad[1:] + rate_rad[:-1]) * dphi)
    quats = [Rotation.identity()]
    for step in steps:
        quats.append(quats[-1] * step)
    return Rotation.concatenate(quats)


def build(data_dir: Path) -> dict[str, object]:
    """Register, average and integrate all straight strides of both feet."""
    imu = _read_imu(data_dir / "imu_sample.csv")
    heel = _read_positions(data_dir / "position_sample.csv")
    with (data_dir / "stride_events_sample.csv").open() as fh:
        events = list(csv.DictReader(fh))

    regs = []
    for ev in events:
        foot, sid = ev["foot"], int(ev["s_id"])
        start, end = float(ev["start"]), float(ev["end"])
        ic, to = float(ev["ic"]), float(ev["tc"])
        pos = heel[(foot, sid)]
        if np.hypot(*pos[-1, :2]) < 1.0:  # turning stride
            continue
        acc, gyr = imu[foot]
        s, e = round(start), round(end)
        # level the sensor: the minimal rotation taking mid-stance gravity onto +z
        g0 = acc[s - 10 : s + 10].mean(axis=0)
        level, _ = Rotation.align_vectors([[0.0, 0.0, 1.0]], [g0 / np.linalg.norm(g0)])
        gyr_l = level.apply(gyr)
        if foot == "right":
            gyr_l = gyr_l * -MIRROR
        gy = gyr_l[:, 1]
        i_push = s + int(np.argmax(gy[s : round(ic)]))
        to_k = _first_crossing(gy, i_push, round(ic), rising=False)
        hi = round(ic + 0.03 * IMU_RATE_HZ)
        i_swing = round(to_k) + int(np.argmin(gy[round(to_k) : hi]))
        ic_k = _first_crossing(gy, i_swing, hi + 20, rising=True)
        # heading of travel, mirrored into the left-foot convention
        heading = np.arctan2(pos[-1, 1], pos[-1, 0])
        c, sn = np.cos(-heading), np.sin(-heading)
        p = pos @ np.array([[c, sn, 0.0], [-sn, c, 0.0], [0.0, 0.0, 1.0]])
        if foot == "right":
            p = p * MIRROR
        regs.append(
            {
                "s": float(s),
                "e": float(e),
                "to_k": to_k,
                "ic_k": ic_k,
                "to": to,
                "ic": ic,
                "start": start,
                "gyr": gyr_l,
                "pos": p,
            }
        )

    def knots(r: dict[str, object]) -> Array:
        return np.array([r["s"], r["to_k"], r["ic_k"], r["e"]], dtype=np.float64)

    all_k = np.array([knots(r) for r in regs])
    dur = all_k[:, 3] - all_k[:, 0]
    knot_phase = ((all_k - all_k[:, :1]) / dur[:, None]).mean(axis=0)
    phase = np.linspace(0.0, 1.0, N_FINE)

    rates, positions, ev_to, ev_ic = [], [], [], []
    for r, k in zip(regs, all_k, strict=True):
        idx = np.interp(phase, knot_phase, k)  # IMU sample index at each phase
        gyr = np.asarray(r["gyr"])
        g = np.stack([np.interp(idx, np.arange(len(gyr)), gyr[:, i]) for i in range(3)], 1)
        dt_dphi = np.gradient(idx, phase) / IMU_RATE_HZ
        rates.append(g * dt_dphi[:, None])  # deg per unit phase
        pos = np.asarray(r["pos"])
        t_pos = float(r["start"]) / IMU_RATE_HZ + np.arange(len(pos)) / MOCAP_RATE_HZ
        t_ph = idx / IMU_RATE_HZ
        positions.append(np.stack([np.interp(t_ph, t_pos, pos[:, i]) for i in range(3)], 1))
        ev_to.append(np.interp(float(r["to"]), k, knot_phase))
        ev_ic.append(np.interp(float(r["ic"]), k, knot_phase))

    rate = np.deg2rad(np.mean(rates, axis=0))
    dphi = float(phase[1] - phase[0])
    # close the cycle: remove the constant rate bias that leaves the foot rotated at phase 1
    for _ in range(5):
        rot = _integrate(rate, dphi)
        rate = rate - rot[-1].as_rotvec()[None, :]
    rot = _integrate(rate, dphi)
    mat = rot.as_matrix()
    pitch = np.rad2deg(np.arcsin(np.clip(mat[:, 2, 0], -1.0, 1.0)))
    roll = np.rad2deg(np.arctan2(mat[:, 2, 1], mat[:, 2, 2]))
    yaw = np.rad2deg(np.arctan2(mat[:, 1, 0], mat[:, 0, 0]))

    pos_mean = np.mean(positions, axis=0)
    # the 100 Hz mocap path, linearly resampled, has kinks: low-pass it (zero phase)
    fs_equiv = N_FINE / (float(np.mean(dur)) / IMU_RATE_HZ)
    sos = butter(4, HEEL_LOWPASS_HZ, fs=fs_equiv, output="sos")
    pad = np.concatenate(
        [np.repeat(pos_mean[:1], 400, 0), pos_mean, np.repeat(pos_mean[-1:], 400, 0)]
    )
    pos_mean = sosfiltfilt(sos, pad, axis=0)[400:-400]
    # stride start at the origin; remove residual vertical/lateral end offsets smoothly
    pos_mean -= pos_mean[:1]
    ramp = _smootherstep(phase)[:, None]
    pos_mean[:, 1:] -= ramp * pos_mean[-1:, 1:]

    stride_time = float(np.mean(dur)) / IMU_RATE_HZ
    phase_to, phase_ic = float(np.mean(ev_to)), float(np.mean(ev_ic))
    # foot-flat after IC: pitch first back within 2° of flat
    after = np.nonzero((phase > phase_ic) & (pitch < 2.0))[0]
    phase_ff = float(phase[after[0]])

    sel = np.linspace(0, N_FINE - 1, N_TEMPLATE).round().astype(int)

    def rnd(x: Array, nd: int) -> list[float]:
        return [round(float(v), nd) for v in x[sel]]

    return {
        "source": "gaitmap example data (mad-lab-fau/gaitmap example_data, MIT licence); "
        "one healthy adult, Kuederle et al., PLoS One 2022",
        "built_by": "scripts/build_stride_templates.py",
        "cycle": "mid-stance to mid-stance, left-foot convention, body-aligned frame",
        "euler": "R_world_foot = Rz(yaw) @ Ry(-pitch) @ Rx(roll); pitch > 0 toes up",
        "n_strides": len(regs),
        "stride_time_s": round(stride_time, 4),
        "stride_length_m": round(float(pos_mean[-1, 0]), 4),
        "knot_phase": [round(float(v), 5) for v in knot_phase],
        "phase_to": round(phase_to, 5),
        "phase_ic": round(phase_ic, 5),
        "phase_ff": round(phase_ff, 5),
        "phase": rnd(phase, 5),
        "pitch_deg": rnd(pitch, 3),
        "roll_deg": rnd(roll, 3),
        "yaw_deg": rnd(yaw, 3),
        "heel_x_m": rnd(pos_mean[:, 0], 6),
        "heel_y_m": rnd(pos_mean[:, 1], 6),
        "heel_z_m": rnd(pos_mean[:, 2], 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help="gaitmap example data folder")
    parser.add_argument("--out", type=Path, default=OUT, help="template JSON to write")
    args = parser.parse_args()
    tpl = build(args.data)
    args.out.write_text(json.dumps(tpl, indent=1) + "\n")
    print(
        f"{args.out}: {tpl['n_strides']} strides, stride time {tpl['stride_time_s']} s, "
        f"stride length {tpl['stride_length_m']} m, TO/IC/FF phase "
        f"{tpl['phase_to']}/{tpl['phase_ic']}/{tpl['phase_ff']}"
    )


if __name__ == "__main__":
    main()
