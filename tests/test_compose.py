"""docker-compose.yml must stay valid for clinics, though no Docker engine runs here.

Checked: pinned images; every bind-mounted file or folder, Dockerfile, build target and COPY
source exists; every ${VAR} is documented in .env.example; every DORSI_* variable given to the
server is a real setting; ports are unique and match what the services listen on; Grafana's
provisioning points at the InfluxDB datasource and queries rollup fields the server writes; the
simulated gateway's config is a valid gateway config.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def test_every_image_is_pinned() -> None:
    for name, service in _services().items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: pin an exact image tag, not {image!r}"
        assert any(ch.isdigit() for ch in tag), f"{name}: tag {tag!r} is not a version"


def test_bind_mounted_files_exist() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"


def test_named_volumes_are_declared() -> None:
    data = _compose()
    declared = set(data.get("volumes") or {})
    for name, service in data["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_builds_point_at_real_dockerfiles_targets_and_sources() -> None:
    for name, service in _services().items():
        build = service.get("build")
        if build is None:
            continue
        dockerfile = ROOT / build["context"] / build["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        text = dockerfile.read_text()
        if "target" in build:
            assert re.search(rf"^FROM .+ AS {build['target']}$", text, re.M), name
        for source in re.findall(r"^COPY (\S+) ", text, re.M):
            assert (ROOT / build["context"] / source).exists(), f"{name}: COPY {source}"


def test_every_variable_is_documented_in_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert used, "the compose file takes its secrets from the environment"
    assert used <= documented, used - documented


def test_server_environment_names_real_settings() -> None:
    from dorsi.server.settings import Settings

    environment = _services()["dorsi-server"]["environment"]
    for key in environment:
        assert key.startswith("DORSI_"), key
        path = key.removeprefix("DORSI_").lower().split("__")
        model: Any = Settings
        for part in path:
            assert part in model.model_fields, f"{key}: no setting {part!r}"
            model = model.model_fields[part].annotation
    assert environment["DORSI_ENVIRONMENT"] == "production"


def test_ports_are_unique_and_match_what_listens() -> None:
    host_ports: list[str] = []
    for service in _services().values():
        for mapping in service.get("ports", []):
            parts = str(mapping).split(":")
            host_ports.append(":".join(parts[:-1]))
    assert len(host_ports) == len(set(host_ports))
    services = _services()
    mosquitto_conf = (ROOT / "server/deploy/mosquitto.conf").read_text()
    assert re.search(r"^listener 1883$", mosquitto_conf, re.M)
    assert "1883:1883" in services["mosquitto"]["ports"]
    server = services["dorsi-server"]
    assert f"8000:{server['environment']['DORSI_HTTP_PORT']}" in server["ports"]
    assert server["environment"]["DORSI_MQTT__PORT"] == "1883"
    assert server["environment"]["DORSI_STORE__INFLUX_URL"] == "http://influxdb:8086"
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_grafana_provisioning_queries_fields_the_server_writes() -> None:
    from dorsi.server.store import ROLLUP_METRICS, STATS

    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/dorsi.yaml").read_text())[
        "datasources"
    ][0]
    assert datasource["type"] == "influxdb"
    assert datasource["url"] == "http://influxdb:8086"
    dashboard = json.loads((ROOT / "grafana/dashboards/dorsi-patient-trends.json").read_text())
    rollup_fields = {f"{m}_{s}" for m in ROLLUP_METRICS for s in STATS} | {
        "strides",
        "slap_pct",
        "drag_pct",
        "worn_s",
        "walking_s",
    }
    queries = [t["query"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(queries) >= 8
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
    for query in queries:
        assert 'FROM "daily"' in query
        fields = re.findall(r'SELECT "([a-z0-9_]+)"', query)
        assert fields, query
        assert set(fields) <= rollup_fields, fields


def test_simulated_gateway_config_is_valid(tmp_path: Path) -> None:
    from dorsi.gateway.config import load_config

    text = (ROOT / "server/deploy/compose/simulated-gateway.toml").read_text()
    text = text.replace("/run/dorsi-secrets", str(tmp_path))
    for device in ("dorsi-d001", "dorsi-d002"):
        (tmp_path / f"{device}.password").write_text("pw")
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    config = load_config(path, env={})
    assert [s.side for s in config.sensors] == ["left", "right"]
    assert config.sensors[0].broker.host == "mosquitto"


@pytest.mark.parametrize("name", ["mosquitto", "influxdb", "grafana", "dorsi-server"])
def test_core_services_restart_and_persist(name: str) -> None:
    service = _services()[name]
    assert service["restart"] == "unless-stopped"
    assert any(not v.split(":")[0].startswith((".", "/")) for v in service["volumes"]), name
