"""Audit entries for the HTTP routes (see :mod:`dorsi.server.audit` for the table).

Every route that returns or changes patient data names its action with :func:`audited` (its
``openapi_extra``, so the OpenAPI document shows it as ``x-dorsi-audit``) and calls :func:`mark`
once it knows the user and the patients (the API's ``visible_patient`` dependency does this).
:class:`AuditMiddleware` appends the entries when the response starts, with its HTTP status,
*before* any byte of it reaches the client; if the log cannot be written the client gets 500 and
no data (fail closed). A route that calls :func:`mark` without declaring an action fails (500)
instead of serving unaudited data. Requests without a logged-in user (401, a wrong home-link key)
are not recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dorsi.server.audit import ACTIONS, AuditAction, AuditEntry, AuditLog, Outcome, utc_stamp

AUDIT_EXTRA = "x-dorsi-audit"
"""The ``openapi_extra`` key (and OpenAPI extension) naming a route's audit action."""
_STATE_KEY = "dorsi_audit"
log = logging.getLogger("dorsi.server.audit")


def audited(action: AuditAction) -> dict[str, Any]:
    """``openapi_extra`` for a route that shows or changes patient data."""
    return {AUDIT_EXTRA: action}


@dataclass(frozen=True)
class AuditMark:
    """What a request touched, kept in its state until the response starts."""

    username: str
    role: str
    action: AuditAction
    patient_ids: tuple[str, ...]
    denied: bool


def route_action(scope: Scope) -> AuditAction | None:
    """The audit action the matched route declares, if any."""
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    action = extra.get(AUDIT_EXTRA)
    return action if action in ACTIONS else None


def mark(
    request: Request, username: str, role: str, patient_ids: Iterable[str], *, denied: bool = False
) -> None:
    """Record (when the response starts) that ``username`` reached these patients' data.

    Raises:
        RuntimeError: the route declares no audit action (a programming error: fail closed).
    """
    action = route_action(request.scope)
    if action is None:
        raise RuntimeError(f"{request.url.path} shows patient data but declares no audit action")
    request.state.dorsi_audit = AuditMark(username, role, action, tuple(patient_ids), denied)


def _rows(scope: Scope, found: AuditMark, status: int) -> list[AuditEntry]:
    outcome: Outcome = "denied" if found.denied else ("ok" if status < 400 else "failed")
    client = scope.get("client")
    now = utc_stamp(datetime.now(UTC))
    return [
        AuditEntry(
            0,
            now,
            found.username,
            found.role,
            found.action,
            patient_id,
            scope.get("method", ""),
            str(scope.get("path", "")),
            status,
            outcome,
            client[0] if client else "",
        )
        for patient_id in found.patient_ids
    ]


class AuditMiddleware:
    """Writes the request's :class:`AuditMark` when its response starts (fail closed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def _write(self, scope: Scope, found: AuditMark, status: int) -> None:
        audit_log: AuditLog = scope["app"].state.registry.audit
        audit_log.append(_rows(scope, found, status))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        started = False
        blocked = False

        async def send_audited(message: Message) -> None:
            nonlocal started, blocked
            if message["type"] == "http.response.start":
                started = True
                found = state.get(_STATE_KEY)
                if isinstance(found, AuditMark):
                    try:
                        await anyio.to_thread.run_sync(self._write, scope, found, message["status"])
                    except Exception:
                        log.exception("audit log not written: refusing to send patient data")
                        blocked = True
                        await send(
                            {
                                "type": "http.response.start",
                                "status": 500,
                                "headers": [(b"content-type", b"application/json")],
                            }
                        )
                        await send(
                            {
                                "type": "http.response.body",
                                "body": b'{"detail":"audit log unavailable; no data was sent"}',
                            }
                        )
                        return
            elif blocked:
                return
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except Exception:
            found = state.get(_STATE_KEY)
            if isinstance(found, AuditMark) and not started:
                try:
                    await anyio.to_thread.run_sync(self._write, scope, found, 500)
                except Exception:
                    log.exception("audit log not written for a failed request")
            raise
