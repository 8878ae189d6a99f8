"""The registry (SQLite): therapists and admins, patients, devices, interventions, sessions.

Passwords are stored as argon2id hashes; session tokens are random 256-bit strings of which only
an HMAC-SHA-256 keyed with the server's ``secret_key`` is stored. A therapist sees only the
patients assigned to them; an admin sees all. The same database holds the append-only audit
log (:mod:`dorsi.server.audit`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dorsi.server.audit import AuditLog
from dorsi.server.schema import ID_PATTERN

Role = Literal["therapist", "admin"]
Side = Literal["left", "right"]
_ID = re.compile(ID_PATTERN)
MAX_USERNAME_CHARS = 64
_USERNAME = re.compile(rf"^[A-Za-z0-9_.@-]{{3,{MAX_USERNAME_CHARS}}}$")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('therapist', 'admin')), created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
    id TEXT PRIMARY KEY, display_name TEXT NOT NULL,
    affected_side TEXT NOT NULL CHECK (affected_side IN ('left', 'right')),
    brace_type TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assignments (
    user_id INTEGER NOT NULL REFERENCES users(id), patient_id TEXT NOT NULL REFERENCES patients(id),
    PRIMARY KEY (user_id, patient_id));
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, patient_id TEXT NOT NULL REFERENCES patients(id),
    side TEXT NOT NULL CHECK (side IN ('left', 'right')), paired TEXT NOT NULL,
    mqtt_hash TEXT);
CREATE TABLE IF NOT EXISTS interventions (
    id INTEGER PRIMARY KEY, patient_id TEXT NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL, day TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
    expires TEXT NOT NULL);
"""


class RegistryError(ValueError):
    """A registry request that cannot be carried out (the message says why)."""


@dataclass(frozen=True)
class User:
    """A therapist or admin account."""

    id: int
    username: str
    role: Role


@dataclass(frozen=True)
class Patient:
    """A patient under a pseudonymous id; ``display_name`` is for their therapists only."""

    id: str
    display_name: str
    affected_side: Side
    brace_type: str


@dataclass(frozen=True)
class Device:
    """A sensor paired to one patient's side."""

    id: str
    patient_id: str
    side: Side
    paired: str


@dataclass(frozen=True)
class Intervention:
    """A dated clinical event (surgery, nerve transfer, brace change, …)."""

    id: int
    patient_id: str
    kind: str
    day: date
    note: str


@dataclass(frozen=True)
class _Result:
    rows: list[Any]
    lastrowid: int | None

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return self.rows


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(token: str, pepper: bytes) -> str:
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


class Registry:
    """Accounts, patients and devices in one SQLite file (WAL)."""

    def __init__(
        self,
        path: Path | str,
        *,
        hasher: PasswordHasher | None = None,
        token_pepper: str = "",
    ) -> None:
        """Open (and create) the registry; ``token_pepper`` keys the session-token digests."""
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self.audit = AuditLog(self._db, self._lock)
        self._pepper = token_pepper.encode()
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("not-a-user-timing-equaliser")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> _Result:
        """Run one statement under the lock; rows fetched before the lock is released."""
        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
                return _Result(cursor.fetchall(), cursor.lastrowid)
            except sqlite3.IntegrityError as exc:
                raise RegistryError(str(exc)) from exc

    # -- accounts --------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, role: Role = "therapist") -> User:
        """A new account; RegistryError for a taken/invalid name or a short password."""
        if not _USERNAME.fullmatch(username):
            raise RegistryError(f"username {username!r}: use 3-64 letters, digits, _ . @ -")
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise RegistryError(
                f"password must have {MIN_PASSWORD_CHARS}–{MAX_PASSWORD_CHARS} characters"
            )
        if role not in ("therapist", "admin"):
            raise RegistryError(f"role {role!r} is not therapist or admin")
        if self.user_by_name(username) is not None:
            raise RegistryError(f"username {username!r} is taken")
        cursor = self._execute(
            "INSERT INTO users (username, password_hash, role, created) VALUES (?, ?, ?, ?)",
            (username, self._hasher.hash(password), role, _now().isoformat()),
        )
        return User(int(cursor.lastrowid or 0), username, role)

    def user_by_name(self, username: str) -> User | None:
        """The account called ``username``, if any."""
        row = self._execute(
            "SELECT id, username, role FROM users WHERE username = ?", (username,)
        ).fetchone()
        return User(row[0], row[1], row[2]) if row else None

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches, else None (same cost either way)."""
        row = self._execute(
            "SELECT id, username, role, password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
        stored = row[3] if row else self._dummy_hash
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return User(row[0], row[1], row[2]) if row else None

    def open_session(self, user: User, *, hours: float = 12.0) -> str:
        """A new bearer token for ``user`` valid for ``hours``."""
        token = secrets.token_urlsafe(32)
        expires = _now() + timedelta(hours=hours)
        self._execute(
            "INSERT INTO sessions (token_sha256, user_id, expires) VALUES (?, ?, ?)",
            (_digest(token, self._pepper), user.id, expires.isoformat()),
        )
        return token

    def user_for_token(self, token: str) -> User | None:
        """The user of a live session token, else None."""
        row = self._execute(
            "SELECT u.id, u.username, u.role, s.expires FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = ?",
            (_digest(token, self._pepper),),
        ).fetchone()
        if row is None or datetime.fromisoformat(row[3]) <= _now():
            return None
        return User(row[0], row[1], row[2])

    def close_session(self, token: str) -> None:
        """Log out: forget the token."""
        self._execute(
            "DELETE FROM sessions WHERE token_sha256 = ?", (_digest(token, self._pepper),)
        )

    # -- patients and devices --------------------------------------------------------------------

    def add_patient(
        self, patient_id: str, display_name: str, affected_side: Side, brace_type: str
    ) -> Patient:
        """Register a patient under a pseudonymous id."""
        if not _ID.fullmatch(patient_id):
            raise RegistryError(f"patient id {patient_id!r}: use 1-64 letters, digits, _ or -")
        if affected_side not in ("left", "right"):
            raise RegistryError(f"affected side {affected_side!r} is not left or right")
        self._execute(
            "INSERT INTO patients (id, display_name, affected_side, brace_type, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (patient_id, display_name, affected_side, brace_type, _now().isoformat()),
        )
        return Patient(patient_id, display_name, affected_side, brace_type)

    def patient(self, patient_id: str) -> Patient | None:
        """One patient by id."""
        row = self._execute(
            "SELECT id, display_name, affected_side, brace_type FROM patients WHERE id = ?",
            (patient_id,),
        ).fetchone()
        return Patient(*row) if row else None

    def assign(self, username: str, patient_id: str) -> None:
        """Give a therapist access to a patient."""
        user = self.user_by_name(username)
        if user is None:
            raise RegistryError(f"no user {username!r}")
        if self.patient(patient_id) is None:
            raise RegistryError(f"no patient {patient_id!r}")
        self._execute(
            "INSERT OR IGNORE INTO assignments (user_id, patient_id) VALUES (?, ?)",
            (user.id, patient_id),
        )

    def is_assigned(self, user: User, patient_id: str) -> bool:
        """True if ``user`` is one of the patient's therapists."""
        row = self._execute(
            "SELECT 1 FROM assignments WHERE user_id = ? AND patient_id = ?", (user.id, patient_id)
        ).fetchone()
        return row is not None

    def can_see(self, user: User, patient_id: str) -> bool:
        """Admins see every patient; therapists only their assigned ones."""
        return user.role == "admin" or self.is_assigned(user, patient_id)

    def shown_to(self, user: User, patient: Patient) -> Patient:
        """``patient`` as ``user`` may see it: the display name only for the patient's own
        therapists, the pseudonymous id for everyone else (admins)."""
        if self.is_assigned(user, patient.id):
            return patient
        return replace(patient, display_name=patient.id)

    def patients_for(self, user: User) -> list[Patient]:
        """The patients ``user`` may see, by id."""
        if user.role == "admin":
            rows = self._execute(
                "SELECT id, display_name, affected_side, brace_type FROM patients ORDER BY id"
            ).fetchall()
        else:
            rows = self._execute(
                "SELECT p.id, p.display_name, p.affected_side, p.brace_type FROM patients p "
                "JOIN assignments a ON a.patient_id = p.id WHERE a.user_id = ? ORDER BY p.id",
                (user.id,),
            ).fetchall()
        return [Patient(*row) for row in rows]

    def pair_device(
        self, device_id: str, patient_id: str, side: Side, *, mqtt_hash: str | None = None
    ) -> Device:
        """Pair (or re-pair) a sensor with a patient's side; ``mqtt_hash``: its MQTT password."""
        if not _ID.fullmatch(device_id):
            raise RegistryError(f"device id {device_id!r}: use 1-64 letters, digits, _ or -")
        if side not in ("left", "right"):
            raise RegistryError(f"side {side!r} is not left or right")
        if self.patient(patient_id) is None:
            raise RegistryError(f"no patient {patient_id!r}")
        paired = _now().isoformat()
        self._execute(
            "INSERT OR REPLACE INTO devices (id, patient_id, side, paired, mqtt_hash) "
            "VALUES (?, ?, ?, ?, ?)",
            (device_id, patient_id, side, paired, mqtt_hash),
        )
        return Device(device_id, patient_id, side, paired)

    def devices(self, patient_id: str | None = None) -> list[Device]:
        """Paired devices (of one patient, or all)."""
        if patient_id is None:
            rows = self._execute("SELECT id, patient_id, side, paired FROM devices ORDER BY id")
        else:
            rows = self._execute(
                "SELECT id, patient_id, side, paired FROM devices WHERE patient_id = ? ORDER BY id",
                (patient_id,),
            )
        return [Device(*row) for row in rows.fetchall()]

    def mqtt_credentials(self) -> list[tuple[str, str, str]]:
        """(device, patient, MQTT password hash) of every device that has one."""
        rows = self._execute(
            "SELECT id, patient_id, mqtt_hash FROM devices WHERE mqtt_hash IS NOT NULL ORDER BY id"
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    # -- interventions ---------------------------------------------------------------------------

    def add_intervention(
        self, patient_id: str, kind: str, day: date, note: str = ""
    ) -> Intervention:
        """Record a dated clinical event."""
        if self.patient(patient_id) is None:
            raise RegistryError(f"no patient {patient_id!r}")
        if not kind.strip():
            raise RegistryError("intervention kind must not be empty")
        cursor = self._execute(
            "INSERT INTO interventions (patient_id, kind, day, note) VALUES (?, ?, ?, ?)",
            (patient_id, kind, day.isoformat(), note),
        )
        return Intervention(int(cursor.lastrowid or 0), patient_id, kind, day, note)

    def interventions(self, patient_id: str) -> list[Intervention]:
        """A patient's events by date."""
        rows = self._execute(
            "SELECT id, patient_id, kind, day, note FROM interventions WHERE patient_id = ? "
            "ORDER BY day, id",
            (patient_id,),
        ).fetchall()
        return [Intervention(r[0], r[1], r[2], date.fromisoformat(r[3]), r[4]) for r in rows]
