"""Typed errors raised by the signal core; each message says what to do about it."""

from __future__ import annotations

__all__ = [
    "InputShapeError",
    "NonMonotonicTimeError",
    "SamplingRateError",
    "SignalError",
    "TooShortError",
    "UnitError",
]


class SignalError(ValueError):
    """Base class: the input cannot be analysed as given."""


class InputShapeError(SignalError):
    """Arrays have the wrong shape, dtype or mismatched lengths."""


class TooShortError(SignalError):
    """The input (or a window derived from it) is too short to be meaningful."""


class UnitError(SignalError):
    """The values look like the wrong unit (e.g. gyro in rad/s instead of deg/s)."""


class SamplingRateError(SignalError):
    """The sampling rate is not finite or outside the supported range."""


class NonMonotonicTimeError(SignalError):
    """Timestamps go backwards or repeat."""
