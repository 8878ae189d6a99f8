"""System-test fixtures: the server tests' real influxd (session) and per-test database."""

from __future__ import annotations

from tests.server.conftest import influx_db, influxd

__all__ = ["influx_db", "influxd"]
