"""``dorsi-sensor serve``: help, bad input, and a time-lapsed demo run with a link loss."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dorsi.firmware_protocol.cli import main

HEADER = "t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"


def _write_csv(path: Path, seconds: float, rate_hz: float = 104.0) -> int:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    acc = np.column_stack([np.sin(t), np.cos(t), 9.81 + np.sin(3 * t)])
    gyr = 100 * np.column_stack([np.sin(t), np.cos(t), np.sin(2 * t)])
    rows = np.column_stack([t, acc, gyr])
    np.savetxt(path, rows, delimiter=",", header=HEADER, comments="", fmt="%.6f")
    return int(t.size)


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--scenario", "--csv", "--rate", "--side", "--seconds", "--speed", "--demo"):
        assert option in out


def test_demo_streams_a_csv_and_recovers_a_link_loss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "imu.csv"
    n = _write_csv(csv, seconds=30.0)
    code = main(["serve", "--csv", str(csv), "--speed", "20", "--drop-at", "12"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"connected: MTU 247", out)
    assert "link lost (forced)" in out
    summary = out.strip().splitlines()[-1]
    assert f"{n} samples" in summary
    assert "unrecovered 0" in summary
    assert "malformed 0" in summary
    gaps = int(re.search(r"gaps (\d+)", summary).group(1))  # type: ignore[union-attr]
    assert gaps > 0  # the link loss did cost live packets, all backfilled


def test_default_source_is_the_simulated_walk(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--seconds", "4", "--speed", "20", "--rate", "52", "--side", "right"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "simulated footdrop_mild walk" in out
    assert "side right" in out
    assert f"{4 * 52} samples" in out.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--csv", "/nonexistent/imu.csv"], "no such file"),
        (["--speed", "0"], "--speed"),
        (["--battery", "101"], "--battery"),
        (["--no-demo", "--drop-at", "3"], "--drop-at"),
    ],
)
def test_raises_clear_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *argv]) == 2
    assert message in capsys.readouterr().err


def test_bad_csv_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "imu.csv"
    bad.write_text("time,a,b\n1,2,3\n")
    assert main(["serve", "--csv", str(bad)]) == 2
    assert "header" in capsys.readouterr().err
