"""A real distributed Airflow on loopback: PostgreSQL, Redis, api-server, scheduler,
dag-processor, triggerer and two Celery workers, all as processes of this test run.

Each test session gets a fresh PostgreSQL database and a dedicated Redis db number; every
process is torn down (process group SIGTERM, then SIGKILL) whatever the outcome.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG = ("127.0.0.1", 5432, "postgres")
REDIS = ("127.0.0.1", 6379)
REDIS_DB = 13  # dedicated to this test; flushed before and after
DAG_ID = "xmargin_nightly"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """The running processes and how to talk to them."""

    home: Path
    data_root: Path
    env: dict[str, str]
    base_url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    token: str = ""

    # -- REST API v2 (JWT from the simple auth manager) --------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """One REST call. A GET the API server leaves unanswered for `timeout` seconds (a loaded
        two-core machine running the scheduler, the workers and the run itself) is sent again,
        three tries in all: reading is idempotent. Other methods are sent once.
        """
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        tries = 3 if method == "GET" else 1
        for attempt in range(1, tries + 1):
            try:
                resp = httpx.request(
                    method, f"{self.base_url}{path}", json=body, headers=headers, timeout=timeout
                )
                break
            except httpx.TimeoutException:
                if attempt == tries:
                    raise
        if resp.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def login(self, user: str, password: str) -> None:
        import httpx

        resp = httpx.post(
            f"{self.base_url}/auth/token",
            json={"username": user, "password": password},
            timeout=30,
        )
        assert resp.status_code in (200, 201), f"login failed: {resp.status_code} {resp.text}"
        self.token = resp.json()["access_token"]

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        doc = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")
        return list(doc["task_instances"])

    def wait_run(self, run_id: str, timeout: float, allow: tuple[str, ...] = ()) -> dict[str, Any]:
        """Poll the run until it finishes; fail with the task states if it takes too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return dict(run)
            self.assert_alive(allow)
            time.sleep(2)
        states = {t["task_id"]: t["state"] for t in self.task_instances(run_id)}
        raise AssertionError(f"run {run_id} not finished after {timeout}s: {states}\n{self.tail()}")

    def assert_alive(self, allow: tuple[str, ...] = ()) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        dead = {n: c for n, c in dead.items() if n not in allow}
        if dead:
            raise AssertionError(f"Airflow processes exited: {dead}\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        out = []
        for name in self.procs:
            log = self.home / f"{name}.log"
            if log.exists():
                text = log.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {name} ---\n" + "\n".join(text))
        return "\n".join(out)

    # -- processes -----------------------------------------------------------------------------
    def start(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
        self.procs[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
            start_new_session=True,  # its own process group: torn down with everything it forks
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Also whatever the group left behind (task supervisors, pool children).
            _signal_group(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait(timeout=10)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _psql(sql: str, db: str = "postgres") -> None:
    import psycopg

    with psycopg.connect(
        host=PG[0], port=PG[1], user=PG[2], dbname=db, autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _redis_flush() -> None:
    import redis

    redis.Redis(host=REDIS[0], port=REDIS[1], db=REDIS_DB, socket_timeout=5).flushdb()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not _reachable(PG[0], PG[1]):
        pytest.skip(f"PostgreSQL is not reachable on {PG[0]}:{PG[1]}")
    if not _reachable(*REDIS):
        pytest.skip(f"Redis is not reachable on {REDIS[0]}:{REDIS[1]}")

    home = tmp_path_factory.mktemp("airflow_e2e")
    probe = subprocess.run(
        [sys.executable, "-c", "import airflow.providers.celery.executors.celery_executor_utils"],
        env={**os.environ, "AIRFLOW_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:
        # Not a skip: the installed set itself cannot run the CeleryExecutor.
        pytest.fail(
            "the Celery provider cannot be imported with the installed celery "
            f"({probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'no message'});"
            " apache-airflow-providers-celery 3.26.0 needs celery<5.7 (e.g. celery==5.6.3)"
        )
    data_root = tmp_path_factory.mktemp("data_e2e")
    db = f"xmargin_e2e_{secrets.token_hex(4)}"
    try:
        _psql(f'CREATE DATABASE "{db}"')
    except Exception as exc:  # a server we cannot use is as good as none
        pytest.skip(f"cannot create a PostgreSQL database as {PG[2]} on {PG[0]}:{PG[1]}: {exc}")
    _redis_flush()
    port = _free_port()
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    pg_url = f"postgresql+psycopg2://{PG[2]}@{PG[0]}:{PG[1]}/{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": str(REPO),
            "XMARGIN_DATA_ROOT": str(data_root),
            "XMARGIN_SHARDS": "3",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG[2]}@{PG[0]}:{PG[1]}/{db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            # Scheduled runs would race the triggered ones; manual and backfill runs still go.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # A killed worker's tasks are noticed in seconds rather than the default five minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    c = Cluster(home=home, data_root=data_root, env=env, base_url=f"http://127.0.0.1:{port}")
    try:
        migrate = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, timeout=300
        )
        assert migrate.returncode == 0, migrate.stderr.decode()[-3000:]
        c.start("api-server", "api-server", "--port", str(port), "--host", "127.0.0.1")
        c.start("scheduler", "scheduler")
        c.start("dag-processor", "dag-processor")
        c.start("triggerer", "triggerer", "--skip-serve-logs")
        for n in (1, 2):
            c.start(
                f"worker{n}",
                "celery",
                "worker",
                "--celery-hostname",
                f"xmargin-w{n}@%h",
                "--concurrency",
                "2",
                "--skip-serve-logs",
                "--without-gossip",
                "--without-mingle",
            )
        _wait_ready(c, password)
        yield c
    finally:
        c.stop()
        _redis_flush()
        try:
            _psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        except Exception as exc:  # leave a note; a leftover database is harmless
            print(f"could not drop {db}: {exc}", file=sys.stderr)


def _wait_ready(c: Cluster, password: str, timeout: float = 180) -> None:
    """API up, logged in, DAG parsed without errors and unpaused."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        c.assert_alive()
        try:
            if httpx.get(f"{c.base_url}/api/v2/monitor/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"api-server not healthy after {timeout}s\n{c.tail()}")
        time.sleep(1)
    c.login("admin", password)
    while True:
        c.assert_alive()
        errors = c.api("GET", "/api/v2/importErrors")
        assert errors["total_entries"] == 0, errors
        try:
            c.api("GET", f"/api/v2/dags/{DAG_ID}")
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{DAG_ID} not parsed after {timeout}s\n{c.tail()}") from None
            time.sleep(2)
    c.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
