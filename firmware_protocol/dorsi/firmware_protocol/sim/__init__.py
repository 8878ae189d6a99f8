"""Gait motion simulator: realistic foot-IMU recordings with per-stride ground truth.

Shaped after a real recording (gaitmap example data, MIT): see ``templates`` and
``docs/simulator.md``. Needs the ``sensor`` extra (numpy, scipy, tqdm).
"""

from __future__ import annotations

from .recording import SimulatedRecording
from .scenarios import SCENARIOS
from .synth import SIDES, simulate
from .truth import TRUTH_COLUMNS, StrideTruth

__all__ = ["SCENARIOS", "SIDES", "TRUTH_COLUMNS", "SimulatedRecording", "StrideTruth", "simulate"]
