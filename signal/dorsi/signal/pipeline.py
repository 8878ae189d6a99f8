"""Batch analysis of one foot's recording: `analyze(acc, gyr, sampling_rate_hz=...)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import uniform_filter1d

from dorsi.signal.alignment import MountingEstimate, apply_mounting, estimate_mounting
from dorsi.signal.config import GaitConfig
from dorsi.signal.errors import SignalError, TooShortError
from dorsi.signal.metrics import StrideMetrics
from dorsi.signal.strides import StrideSequencer, strides_in_run
from dorsi.signal.units import seconds_to_samples
from dorsi.signal.validation import as_imu_arrays, check_units, finite_runs

__all__ = ["Bout", "GaitAnalysis", "analyze"]

FloatArray = NDArray[np.float64]
Frame = Literal["body", "sensor"]
Side = Literal["left", "right"]

MIN_INPUT_S = 2.0
"""Shortest input worth analysing (one stride at a slow cadence)."""
BLOCK_S = 600.0
"""Long recordings are analysed in blocks of about this length (see `_blocks`)."""
BLOCK_CUT_STILL_S = 6.0
BLOCK_STILL_DPS = 10.0


@dataclass(frozen=True)
class Bout:
    """A walking bout: consecutive strides sharing their contacts."""

    bout: int
    start_t: float
    end_t: float
    n_strides: int


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class GaitAnalysis:
    """Result of `analyze`: strides in time order, bouts, and the foot pitch trace."""

    strides: tuple[StrideMetrics, ...]
    bouts: tuple[Bout, ...]
    sampling_rate_hz: float
    alignment: MountingEstimate | None
    """Mounting estimate when analysed with frame="sensor", else None."""
    pitch_deg: FloatArray = field(repr=False)
    """Foot pitch relative to the preceding foot-flat per sample (NaN outside swings), deg."""

    def to_records(self) -> list[dict[str, float | int | None]]:
        """One dict per stride with the contract column names (NaN → None)."""
        return [s.to_record() for s in self.strides]


def analyze(
    acc_mps2: ArrayLike,
    gyr_dps: ArrayLike,
    *,
    sampling_rate_hz: float,
    frame: Frame = "body",
    side: Side | None = None,
    config: GaitConfig | None = None,
    t0_s: float = 0.0,
    progress: Callable[[float], None] | None = None,
) -> GaitAnalysis:
    """Find strides, gait events and per-stride metrics in one foot's IMU recording.

    Args:
        acc_mps2: (n, 3) specific force, m/s², body frame (docs/frames.md).
        gyr_dps: (n, 3) angular rate, deg/s, body frame.
        sampling_rate_hz: constant sampling rate, Hz.
        frame: "body" (already aligned) or "sensor" (estimate the mounting first; the estimate
            is returned as `GaitAnalysis.alignment`).
        side: "left" or "right" foot, or None (informational: the body frame is the same for
            both feet).
        config: analysis settings.
        t0_s: time of the first sample, s; stride times are `t0_s + index / sampling_rate_hz`.
        progress: called with the fraction of samples analysed (0–1) after each block.

    Rows containing NaN/inf are gaps: the recording is split there and no stride spans a gap.

    Raises:
        InputShapeError, SamplingRateError, UnitError: invalid input.
        AlignmentError: frame="sensor" without enough still and walking data.
        TooShortError: fewer than `MIN_INPUT_S` seconds of finite samples.
    """
    cfg = config or GaitConfig()
    acc, gyr, fs = as_imu_arrays(acc_mps2, gyr_dps, sampling_rate_hz)
    min_n = seconds_to_samples(MIN_INPUT_S, fs, what="input")
    runs = [(a, b) for a, b in finite_runs(acc, gyr) if b - a >= min_n]
    if not runs:
        raise TooShortError(
            f"no stretch of at least {MIN_INPUT_S:g} s without NaN ({acc.shape[0]} samples)"
        )
    check_units(acc, gyr)
    alignment: MountingEstimate | None = None
    if frame == "sensor":
        alignment = estimate_mounting(acc, gyr, sampling_rate_hz=fs)
        acc = apply_mounting(acc, alignment)
        gyr = apply_mounting(gyr, alignment)
    elif frame != "body":
        raise SignalError(f"frame must be 'body' or 'sensor', not {frame!r}")
    pitch = np.full(acc.shape[0], np.nan)
    sequencer = StrideSequencer(sampling_rate_hz=fs)
    strides: list[StrideMetrics] = []
    blocks = [blk for a, b in runs for blk in _blocks(gyr, a, b, fs)]
    for a, b in blocks:
        run = strides_in_run(
            acc[a:b], gyr[a:b], sampling_rate_hz=fs, t0_s=t0_s + a / fs, config=cfg
        )
        pitch[a:b] = run.pitch_deg
        strides.extend(sequencer.add(s) for s in run.strides)
        if progress is not None:
            progress(b / acc.shape[0])
    return GaitAnalysis(
        strides=tuple(strides),
        bouts=_bouts(strides),
        sampling_rate_hz=fs,
        alignment=alignment,
        pitch_deg=pitch,
    )


def _blocks(gyr: FloatArray, a: int, b: int, fs: float) -> list[tuple[int, int]]:
    """Split a gap-free run into blocks of about `BLOCK_S`, cut only in the middle of still
    stretches of at least `BLOCK_CUT_STILL_S` (no stride or filter transient crosses them), so
    results do not depend on the blocking; it bounds memory and feeds the progress bar."""
    block_n = seconds_to_samples(BLOCK_S, fs, what="block")
    if b - a <= block_n:
        return [(a, b)]
    step = max(1, int(fs // 50.0))  # stillness at ~50 Hz is plenty to place cuts
    g = gyr[a:b:step]
    speed = np.sqrt(np.einsum("ij,ij->i", g, g))
    energy = uniform_filter1d(speed, seconds_to_samples(0.5, fs / step))
    still = np.concatenate(([0], (energy < BLOCK_STILL_DPS).astype(np.int8), [0]))
    edges = np.diff(still)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_enough = stops - starts >= seconds_to_samples(BLOCK_CUT_STILL_S, fs / step)
    cuts = ((starts + stops) // 2)[long_enough] * step + a
    out: list[tuple[int, int]] = []
    start = a
    for cut in cuts:
        if cut - start >= block_n:
            out.append((start, int(cut)))
            start = int(cut)
    out.append((start, b))
    return out


def _bouts(strides: list[StrideMetrics]) -> tuple[Bout, ...]:
    bouts: dict[int, list[StrideMetrics]] = {}
    for s in strides:
        bouts.setdefault(s.bout, []).append(s)
    return tuple(
        Bout(bout=b, start_t=ss[0].ic_t, end_t=ss[-1].next_ic_t, n_strides=len(ss))
        for b, ss in bouts.items()
    )
