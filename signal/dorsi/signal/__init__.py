"""dorsi gait signal core: pure numpy/scipy, arrays in, results out, no I/O, no threads.

Frames and units: body-aligned foot frame (x toward the toes, y to the foot's left, z up when
the foot is flat; docs/frames.md); acceleration in m/s² (specific force), gyro in deg/s, time in s.
"""

from dorsi.signal.activity import Activity, ActivityMinute, ActivitySummary, classify_activity
from dorsi.signal.alignment import (
    AlignmentError,
    MountingEstimate,
    apply_mounting,
    estimate_mounting,
)
from dorsi.signal.config import GaitConfig
from dorsi.signal.errors import (
    InputShapeError,
    NonMonotonicTimeError,
    SamplingRateError,
    SignalError,
    TooShortError,
    UnitError,
)
from dorsi.signal.metrics import STRIDE_FIELDS, StrideMetrics
from dorsi.signal.pipeline import Bout, GaitAnalysis, analyze
from dorsi.signal.streaming import StreamingAnalyzer
from dorsi.signal.units import seconds_to_samples

__all__ = [
    "STRIDE_FIELDS",
    "Activity",
    "ActivityMinute",
    "ActivitySummary",
    "AlignmentError",
    "Bout",
    "GaitAnalysis",
    "GaitConfig",
    "InputShapeError",
    "MountingEstimate",
    "NonMonotonicTimeError",
    "SamplingRateError",
    "SignalError",
    "StreamingAnalyzer",
    "StrideMetrics",
    "TooShortError",
    "UnitError",
    "analyze",
    "apply_mounting",
    "classify_activity",
    "estimate_mounting",
    "seconds_to_samples",
]
