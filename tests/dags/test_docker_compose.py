"""docker-compose.yml gives Airflow's distributed topology for xmargin (no Docker engine here:
the file is parsed and its services, health checks and volumes are checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
LONG_RUNNING = (
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def _command(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def _airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if n.startswith("airflow-")}


def test_official_topology_is_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (*LONG_RUNNING, "airflow-init"):
        assert name in services, name
    assert _command(services["airflow-apiserver"]) == "api-server"
    assert _command(services["airflow-scheduler"]) == "scheduler"
    assert _command(services["airflow-dag-processor"]) == "dag-processor"
    assert _command(services["airflow-triggerer"]) == "triggerer"
    workers = [n for n, s in services.items() if _command(s) == "celery worker"]
    assert len(workers) >= 2, workers
    assert len({services[w].get("hostname") for w in workers}) == len(workers)


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    workers = [n for n, s in services.items() if _command(s) == "celery worker"]
    for name in (*LONG_RUNNING, *workers):
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name}: no healthcheck"
        assert "interval" in check and "retries" in check, name


def test_celery_executor_on_postgres_and_redis(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:")
    assert "AIRFLOW__API_AUTH__JWT_SECRET" in env


def test_all_airflow_services_share_the_data_volume_and_the_dags(compose: dict[str, Any]) -> None:
    assert {"xmargin-data", "postgres-db-volume"} <= set(compose["volumes"])
    for name, service in _airflow_services(compose).items():
        volumes = service["volumes"]
        assert "xmargin-data:/opt/xmargin/data" in volumes, name
        assert any(v.startswith("./dags:") for v in volumes), name
        assert any(v.startswith("./plugins:") for v in volumes), name
        assert service["environment"]["XMARGIN_DATA_ROOT"] == "/opt/xmargin/data", name


def test_airflow_waits_for_healthy_backends_and_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"


def test_the_image_installs_the_wheel_not_the_checkout(compose: dict[str, Any]) -> None:
    """The running image holds the built wheel only (issue 11): no source folders, no `-e`."""
    dockerfile = compose["x-airflow-common"]["build"]["dockerfile_inline"]
    stages = dockerfile.split("\nFROM ")
    assert len(stages) == 2, "a wheel-building stage, then the runtime image"
    build, runtime = stages
    assert "pip wheel" in build and "--no-deps" in build
    assert "COPY --from=wheel" in runtime
    install = [ln for ln in runtime.splitlines() if "pip install" in ln]
    assert len(install) == 1 and ".whl" in install[0] and " -e " not in install[0], install
    assert "constraints.txt" in install[0]
    for folder in ("pipeline", "params", "data_contracts", "sql"):
        assert f" {folder} " not in runtime and f" {folder}\n" not in runtime, folder
    ignored = (COMPOSE.parent / ".dockerignore").read_text().split()
    assert {".venv/", "data/", ".git/"} <= set(ignored)
