"""Start `dagster dev` on 127.0.0.1 and drive it through its GraphQL API, as the UI does."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from movielens_dag.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""
STATUS = "query Status($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"
ASSETS = "{ assetNodes { assetKey { path } groupName } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    shutil.copy(PROJECT_ROOT / "workspace.yaml", home / "workspace.yaml")
    port = free_port()
    env = os.environ | {"DAGSTER_HOME": str(home), "MOVIELENS_DATA_DIR": str(home / "data")}
    with open(home / "dagster_dev.log", "w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(1)
        assert proc.poll() is None, (home / "dagster_dev.log").read_text()[-3000:]
    else:
        pytest.fail("dagster dev did not answer in 180 s:\n" + (home / "dagster_dev.log").read_text()[-3000:])
    yield url, home
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def test_every_asset_is_listed_and_a_materialization_succeeds(dagster_dev):
    url, home = dagster_dev
    from movielens_dag.definitions import defs

    expected = {tuple(k.path) for k in defs.get_repository_def().asset_graph.get_all_asset_keys()}
    deadline = time.monotonic() + 120
    while True:  # the code server may still be loading right after startup
        nodes = graphql(url, ASSETS)["assetNodes"]
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert {tuple(n["assetKey"]["path"]) for n in nodes} == expected

    params = {
        "selector": {
            "repositoryLocationName": "movielens_dag",
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": ["movielens_files"]}, {"path": ["movies"]}],
        },
    }
    launched = graphql(url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 240
    status = None
    while time.monotonic() < deadline:
        status = graphql(url, STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", (home / "dagster_dev.log").read_text()[-4000:]
    assert (home / "data" / "warehouse" / "movielens" / "movies.parquet").exists()
    assert (home / "history" / "runs.db").is_file()  # the instance's storage lives under DAGSTER_HOME
