"""`dorsi-signal analyze`: CSV in, strides CSV (+ plot) out, clear errors on bad files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from signal_reference import IMU_RATE_HZ, Recording

from dorsi.signal import STRIDE_FIELDS
from dorsi.signal.cli import EXIT_BAD_INPUT, INPUT_COLUMNS, main


def _write_input(path: Path, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
    table = np.column_stack((t, acc, gyr))
    np.savetxt(path, table, delimiter=",", header=",".join(INPUT_COLUMNS), comments="")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_basic_analyze_with_plot(tmp_path: Path, recordings: dict[str, Recording]) -> None:
    rec = recordings["left"]
    t = 100.0 + np.arange(rec.acc_mps2.shape[0]) / IMU_RATE_HZ
    _write_input(tmp_path / "in.csv", t, rec.acc_mps2, rec.gyr_dps)
    code = main(
        [
            "analyze",
            str(tmp_path / "in.csv"),
            "--out",
            str(tmp_path / "strides.csv"),
            "--side",
            "left",
            "--plot",
            str(tmp_path / "check.png"),
        ]
    )
    assert code == 0
    rows = _read(tmp_path / "strides.csv")
    assert len(rows) >= 28
    assert tuple(rows[0]) == STRIDE_FIELDS
    assert float(rows[0]["ic_t"]) > 100.0
    assert (tmp_path / "check.png").stat().st_size > 10_000


def test_missing_samples_become_gaps(tmp_path: Path, recordings: dict[str, Recording]) -> None:
    rec = recordings["right"]
    keep = np.ones(rec.acc_mps2.shape[0], dtype=bool)
    keep[3000:3100] = False  # half a second of lost packets
    t = np.arange(rec.acc_mps2.shape[0]) / IMU_RATE_HZ
    _write_input(tmp_path / "in.csv", t[keep], rec.acc_mps2[keep], rec.gyr_dps[keep])
    out = tmp_path / "strides.csv"
    assert main(["analyze", str(tmp_path / "in.csv"), "--out", str(out), "--frame", "body"]) == 0
    rows = _read(out)
    gap = (t[3000], t[3099])
    assert rows
    assert all(float(r["next_ic_t"]) < gap[0] or float(r["ic_t"]) > gap[1] for r in rows)


def test_empty_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.csv").write_text(",".join(INPUT_COLUMNS) + "\n")
    code = main(["analyze", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv")])
    assert code == EXIT_BAD_INPUT
    assert "at least two samples" in capsys.readouterr().err


def test_raises_bad_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.csv").write_text("time,ax,ay,az,gx,gy,gz\n0,0,0,9.81,0,0,0\n")
    code = main(["analyze", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv")])
    assert code == EXIT_BAD_INPUT
    assert "header must be" in capsys.readouterr().err


def test_raises_time_backwards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = np.arange(1000) / 100.0
    t[500] = t[400]
    acc = np.tile([0.0, 0.0, 9.81], (1000, 1))
    _write_input(tmp_path / "in.csv", t, acc, np.zeros((1000, 3)))
    code = main(["analyze", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv")])
    assert code == EXIT_BAD_INPUT
    assert "increase" in capsys.readouterr().err


def test_raises_rate_not_matching_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = np.arange(1000) / 100.0
    acc = np.tile([0.0, 0.0, 9.81], (1000, 1))
    _write_input(tmp_path / "in.csv", t, acc, np.zeros((1000, 3)))
    args = ["analyze", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv")]
    assert main([*args, "--rate", "200"]) == EXIT_BAD_INPUT
    assert "does not match the time column" in capsys.readouterr().err
