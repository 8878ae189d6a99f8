"""HTTP API schemas: ``…Create`` for what clients send, ``…Public`` for what they get back."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from dorsi.server.registry import MAX_PASSWORD_CHARS, MAX_USERNAME_CHARS
from dorsi.server.schema import ID_PATTERN

Side = Literal["left", "right"]


class LoginCreate(BaseModel):
    """Credentials for ``POST /api/v1/auth/login``."""

    username: Annotated[str, Field(max_length=MAX_USERNAME_CHARS)]
    password: Annotated[str, Field(max_length=MAX_PASSWORD_CHARS)]


class TokenPublic(BaseModel):
    """A bearer token for the ``Authorization`` header."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"


class PatientCreate(BaseModel):
    """A new patient (admin only)."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    display_name: Annotated[str, Field(min_length=1, max_length=200)]
    affected_side: Side
    brace_type: Annotated[str, Field(max_length=200)] = ""
    therapists: list[str] = []


class PatientPublic(BaseModel):
    """A patient and their status; ``display_name`` only for their own therapists."""

    id: str
    display_name: str | None
    affected_side: Side
    brace_type: str
    devices: list[str]
    last_data_t: str | None
    battery_pct: float | None
    today_strides: int
    gateway_state: Literal["online", "offline"] | None = None
    link: Literal["connected", "searching", "disconnected"] | None = None
    status_t: str | None = None


class InterventionCreate(BaseModel):
    """A dated clinical event (e.g. ``surgery``, ``nerve transfer``, ``brace change``)."""

    kind: Annotated[str, Field(min_length=1, max_length=100)]
    day: date
    note: Annotated[str, Field(max_length=2000)] = ""


class InterventionPublic(InterventionCreate):
    """A recorded event."""

    id: int


class StridePublic(BaseModel):
    """One stored stride (units as the field names say)."""

    device: str
    side: Side
    gateway: str
    algorithm: str
    ic_t: str
    to_t: str
    next_ic_t: str
    stride_time_s: float
    stance_time_s: float
    swing_time_s: float
    cadence_spm: float
    stride_length_m: float | None
    gait_speed_mps: float | None
    foot_strike_angle_deg: float | None
    toe_off_angle_deg: float | None
    midswing_pitch_deg: float | None
    peak_swing_pitch_deg: float | None
    min_toe_clearance_cm: float | None
    foot_slap: int
    slap_score: float | None
    toe_drag: int
    drag_score: float | None
    turn: int
    bout: int
    quality: float


class StridePagePublic(BaseModel):
    """A page of strides; pass ``next_cursor`` as ``cursor`` for the next page."""

    strides: list[StridePublic]
    next_cursor: str | None


class TrendPointPublic(BaseModel):
    """One day (or ISO week starting ``day``) of one metric on one side.

    Weekly p10/p50/p90 are stride-count-weighted means of the daily percentiles.
    """

    day: date
    side: Side
    strides: int
    slap_pct: float | None
    drag_pct: float | None
    worn_s: float
    walking_s: float
    count: int
    mean: float | None
    p10: float | None
    p50: float | None
    p90: float | None


class WindowSummaryPublic(BaseModel):
    """A metric summarised over a window of days (from daily rollups)."""

    first: date
    last: date
    days_with_data: int
    strides: int
    mean: float | None
    p50: float | None
    slap_pct: float | None
    drag_pct: float | None
    walking_s_per_day: float | None


class ComparisonPublic(BaseModel):
    """Two windows of one metric and the change from ``a`` to ``b``."""

    metric: str
    side: Side | None
    a: WindowSummaryPublic
    b: WindowSummaryPublic
    mean_change: float | None
    slap_pct_change: float | None


class AuditEntryPublic(BaseModel):
    """Who reached which patient's data: ``t`` in UTC, ``path`` the URL path requested."""

    id: int
    t: str
    username: str
    role: str
    action: Literal["list", "view", "export", "report", "create", "edit"]
    patient_id: str
    method: str
    path: str
    status: int
    outcome: Literal["ok", "denied", "failed"]
    client_ip: str


class AuditPagePublic(BaseModel):
    """Audit entries newest first; pass ``next_before`` as ``before`` for older ones."""

    entries: list[AuditEntryPublic]
    next_before: int | None
