"""`dorsi-sensor simulate` writes imu.csv and truth.csv for every scenario and rate."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest

from dorsi.firmware_protocol.cli import main
from dorsi.firmware_protocol.sim import SCENARIOS, TRUTH_COLUMNS, simulate
from dorsi.firmware_protocol.sim.io import IMU_HEADER, read_imu_csv, read_truth_csv


@pytest.mark.parametrize("rate", [52, 104, 208])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_simulate_writes_both_files(tmp_path: Path, scenario: str, rate: int) -> None:
    out = tmp_path / "run"
    args = ["simulate", "--scenario", scenario, "--seconds", "40", "--rate", str(rate),
            "--seed", "3", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    imu_text = (out / "imu.csv").read_text().splitlines()
    assert imu_text[0] == "t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"
    t, acc, gyr = read_imu_csv(out / "imu.csv")
    assert t.size == 40 * rate
    np.testing.assert_allclose(np.diff(t), 1.0 / rate, atol=2e-6)
    assert 9.0 < float(np.median(np.linalg.norm(acc, axis=1))) < 14.0
    assert np.abs(acc).max() < 16 * 9.81 + 1e-6
    assert np.abs(gyr).max() < 2000.0 + 1e-6
    assert np.abs(gyr[:, 1]).max() > 200.0  # there is walking
    truth_lines = (out / "truth.csv").read_text().splitlines()
    assert truth_lines[0] == ",".join(TRUTH_COLUMNS)
    strides = read_truth_csv(out / "truth.csv")
    assert len(strides) >= 5
    assert all(0.9 <= s.stride_time_s <= 1.6 for s in strides)
    assert all(s.next_ic_t <= t[-1] for s in strides)


def test_cli_matches_api_and_mounting_rotation(tmp_path: Path) -> None:
    args = ["simulate", "--scenario", "footdrop_severe", "--seconds", "12", "--rate", "104",
            "--side", "right", "--seed", "9", "--mounting-rotation=10,-20,30", "--out",
            str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    _t, acc, gyr = read_imu_csv(tmp_path / "imu.csv")
    rec = simulate("footdrop_severe", 12.0, 104.0, "right", 9, (10.0, -20.0, 30.0))
    np.testing.assert_allclose(acc, rec.acc_mps2, atol=1e-4)
    np.testing.assert_allclose(gyr, rec.gyr_dps, atol=1e-3)
    got = [astuple(s) for s in read_truth_csv(tmp_path / "truth.csv")]
    assert len(got) == len(rec.strides) >= 5
    np.testing.assert_allclose(got, [astuple(s) for s in rec.strides], atol=6e-5)


def test_recording_write_round_trips(tmp_path: Path) -> None:
    rec = simulate("footdrop_mild", seconds=10.0, rate_hz=52.0, seed=1)
    imu, truth = rec.write(tmp_path / "x")
    t, acc, _gyr = read_imu_csv(imu)
    np.testing.assert_allclose(t, rec.t, atol=1e-6)
    np.testing.assert_allclose(acc, rec.acc_mps2, atol=1e-4)
    assert len(read_truth_csv(truth)) == len(rec.strides)


@pytest.mark.parametrize(("bad", "message"), [
    (["--scenario", "running"], "invalid choice"),
    (["--seconds", "-5"], "positive number"),
    (["--seconds", "abc"], "not a number"),
    (["--rate", "0"], "Hz"),
    (["--side", "middle"], "invalid choice"),
    (["--seed", "1.5"], "not an integer"),
    (["--mounting-rotation", "1,2"], "R,P,Y"),
    (["--mounting-rotation", "a,b,c"], "R,P,Y"),
])  # fmt: skip
def test_bad_arguments_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--out", str(tmp_path), *bad])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "imu.csv").exists()


def test_unwritable_output_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["simulate", "--seconds", "2", "--out", str(blocker / "sub")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_help_runs_as_a_program() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dorsi.firmware_protocol.cli", "simulate", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for word in ("--scenario", "footdrop_severe", "--mounting-rotation", "--rate"):
        assert word in out.stdout


@pytest.mark.parametrize(("text", "match"), [
    ("t,acc_x,acc_y,acc_z,gyr_x,gyr_y\n0,1,2,3,4,5\n", "header"),
    (IMU_HEADER + "\n0,1,2,3,4,5,x\n", "malformed"),
    (IMU_HEADER + "\n0,1,2,3,4,5,6\n0,1,2,3,4,5,6\n", "increasing"),
    (IMU_HEADER + "\n0,1,2,3,4,5\n", "malformed|columns"),
])  # fmt: skip
def test_read_imu_csv_rejects_bad_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "imu.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_imu_csv(path)
