"""Repository layout and packaging promises (DEVELOPERS.md, issue 2)."""

from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ("firmware_protocol", "signal", "gateway", "server")
SERVER_ONLY = {"fastapi", "uvicorn", "starlette", "jinja2", "sqlalchemy", "reportlab", "influxdb"}
GATEWAY_ONLY = {"bleak", "dbus-fast", "bumble"}


def test_stdlib_signal_not_shadowed_from_repo_root() -> None:
    """`signal/` at the top level must never shadow the standard library module."""
    code = (
        "import signal, asyncio, subprocess, sysconfig, os\n"
        "std = os.path.realpath(sysconfig.get_paths()['stdlib'])\n"
        "assert hasattr(signal, 'SIGINT'), signal\n"
        "f = getattr(signal, '__file__', None)\n"
        "assert f is None or os.path.realpath(f).startswith(std), f\n"
        "assert os.path.realpath(asyncio.__file__).startswith(std), asyncio.__file__\n"
        "asyncio.run(asyncio.sleep(0))\n"
        "print('stdlib-ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "stdlib-ok" in out.stdout


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_is_a_namespace_portion(component: str) -> None:
    pkg_root = ROOT / component / "dorsi"
    assert (pkg_root / component / "__init__.py").is_file()
    assert not (pkg_root / "__init__.py").exists(), "dorsi must stay a namespace package"
    assert not (ROOT / component / "__init__.py").exists(), "no importable top-level package"
    module = __import__(f"dorsi.{component}", fromlist=["_"])
    assert Path(module.__file__ or "").resolve().is_relative_to(ROOT / component)


def _closure(dist: str) -> set[str]:
    """Names of every distribution `dist` pulls in (installed requirements, no extras)."""
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in reqs:
            if "extra ==" in req:
                continue
            match = re.match(r"[A-Za-z0-9_.\-]+", req)
            assert match is not None
            todo.append(match.group(0))
    return seen


def test_gateway_does_not_pull_server_dependencies() -> None:
    closure = _closure("dorsi-gateway")
    assert "bleak" in closure
    assert "dorsi-signal" in closure
    assert "dorsi-server" not in closure
    assert not closure & SERVER_ONLY, closure & SERVER_ONLY


def test_server_does_not_pull_bleak() -> None:
    closure = _closure("dorsi-server")
    assert "dorsi-gateway" not in closure
    assert not closure & GATEWAY_ONLY, closure & GATEWAY_ONLY


def test_codec_needs_only_the_standard_library() -> None:
    assert not [r for r in md.requires("dorsi-firmware-protocol") or [] if "extra ==" not in r]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"```(?:sh|bash)\n(.*?)```", readme, re.S)
    assert match, "README must open with the two commands"
    commands = [ln.split("#")[0].strip() for ln in match.group(1).splitlines() if ln.strip()]
    test_cmd = next(c for c in commands if "test" in c)
    assert test_cmd.removeprefix("./") in ci.replace("bash ", "")
