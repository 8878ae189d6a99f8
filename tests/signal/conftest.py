"""Fixtures for dorsi.signal tests: the real recording and its analysis (session-scoped)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from signal_reference import DATA_DIR, IMU_RATE_HZ, SIDES, Recording, load_recording

from dorsi.signal import GaitAnalysis, analyze


def require_data() -> None:
    """Skip (locally) or fail (under CI) when the real recording is missing."""
    if (DATA_DIR / "imu_sample.csv").is_file():
        return
    message = f"real recording missing: {DATA_DIR}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def recordings() -> dict[str, Recording]:
    require_data()
    return {side: load_recording(side) for side in SIDES}


@pytest.fixture(scope="session")
def body_analyses(recordings: dict[str, Recording]) -> dict[str, GaitAnalysis]:
    """`analyze` of each foot in the body frame (the recording is already body-aligned)."""
    return {
        side: analyze(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=IMU_RATE_HZ, side=side)
        for side, rec in recordings.items()
    }
