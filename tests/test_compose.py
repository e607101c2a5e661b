"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the file parses,
every command exists in the image's CLIs with those options, env names are real settings,
published ports are on loopback."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from alertflow.cli.main import app as alertflow_app
from alertflow.cluster.settings import ENV_FILE, ClusterSettings, file_values
from alertflow.cluster.topology import Cluster
from alertflow.up.settings import UpSettings
from alertmodel.settings import Settings
from deployments.export import WORK_POOL

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
IMAGE = "alertflow:latest"
OURS = {name: s for name, s in COMPOSE["services"].items() if s.get("image") == IMAGE}


def resolve_prefect(args: list[str]) -> Any:
    """The function `prefect ARGS` would call; raises on an unknown command or option.

    Prefect 3.8's CLI is a cyclopts app (`prefect.cli._app._app`, private): its meta app takes
    the session options (--no-prompt), the app itself resolves and binds the command.
    """
    from prefect.cli._app import _app

    _, bound, *_ = _app.meta.parse_args(args, exit_on_error=False, print_error=False)
    command, _, *_ = _app.parse_args(
        list(bound.kwargs.get("tokens", bound.args)), exit_on_error=False, print_error=False
    )
    return command


def resolve(root: Any, args: list[str]) -> Any:
    """Walk `args` down the command tree like the CLI would; a usage error on anything unknown.

    typer 0.2x vendors click (typer._click), so groups are recognised by what they do.
    """
    command, name = root, root.name or "cli"
    while is_group(command):
        ctx = command.make_context(name, list(args), resilient_parsing=False)
        rest = list(getattr(ctx, "_protected_args", [])) + ctx.args
        if not rest:
            return command
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None, f"unknown command {name}"
        command = sub
    command.make_context(name, list(args), resilient_parsing=False)  # options and arguments parse
    return command


def is_group(command: Any) -> bool:
    return hasattr(command, "resolve_command") and hasattr(command, "commands")


def test_the_compose_file_has_the_multi_machine_shape() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "redis", "prefect-api", "prefect-services", "lb", "mariadb", "activemq"} <= set(
        services
    )
    assert {"ingest", "worker", "api", "deploy"} <= set(services)
    assert services["prefect-migrate"]["build"] == "."
    assert "--no-services" in services["prefect-api"]["command"]
    assert services["prefect-services"]["command"][1:] == ["server", "services", "start"]
    for name in ("prefect-api", "ingest", "worker"):
        assert services[name]["deploy"]["replicas"] >= 2, name
    for name in ("prefect-migrate", "prefect-api", "prefect-services"):
        server_env = services[name]["environment"]
        assert server_env["PREFECT_SERVER_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://"), name
        assert "PREFECT_SERVER_API_AUTH_STRING" in server_env, name
        assert server_env["PREFECT_REDIS_MESSAGING_URL"].startswith("redis://redis:"), name
        assert server_env["PREFECT_SERVER_DOCKET_URL"].startswith("redis://redis:"), name
    assert "prefect-api:4200" in COMPOSE["configs"]["lb-config"]["content"]
    for name in OURS:
        if not name.startswith("prefect-"):
            assert "PREFECT_API_AUTH_STRING" in OURS[name]["environment"], name
            assert OURS[name]["environment"]["PREFECT_API_URL"] == "http://lb:4200/api", name


def test_every_service_of_the_image_reads_the_cluster_settings_file() -> None:
    for name, service in OURS.items():
        assert [REPO / f for f in service["env_file"]] == [ENV_FILE], name
    settings = file_values(ENV_FILE)
    # Prefect's multi-server mode: messaging, caches, ordering and leases through prefect-redis.
    for variable in (
        "PREFECT_MESSAGING_BROKER",
        "PREFECT_MESSAGING_CACHE",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING",
    ):
        assert settings[variable].startswith("prefect_redis."), variable
    assert settings["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] == "prefect_redis.lease_storage"
    assert "flow_runs" in settings["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"]


def test_the_native_cluster_runs_the_same_commands_as_the_compose_services() -> None:
    cluster = Cluster(Settings(), ClusterSettings())
    same = {
        "prefect-api-1": "prefect-api",
        "prefect-services": "prefect-services",
        "prefect-worker-1": "worker",
        "ingest-1": "ingest",
        "api": "api",
    }
    parts = {part.name: part.process.argv for part in cluster.parts()}
    assert {n.rstrip("-0123456789") for n in parts} == {
        "prefect-api",
        "prefect-services",
        "lb",
        "prefect-worker",
        "ingest",
        "api",
    }
    for part, service in same.items():
        native = parts[part][2:]  # python -m
        compose = COMPOSE["services"][service]["command"]
        first_option = next((i for i, w in enumerate(compose) if w.startswith("-")), len(compose))
        assert native[:first_option] == compose[:first_option], part  # program and subcommand
        options = {w for w in compose if w.startswith("--")} - {"--host", "--port", "--tls-cert", "--tls-key"}
        assert options <= set(native), (part, options - set(native))


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_service_command_exists_in_the_image_with_its_options(name: str) -> None:
    command = OURS[name]["command"]
    assert isinstance(command, list), f"{name}: use the exec form (a list)"
    program, args = command[0], command[1:]
    # Files mounted into the container (the API's certificate) exist only there.
    args = [str(REPO / "README.md") if a.startswith("/etc/alertflow/") else a for a in args]
    assert program in ("alertflow", "prefect"), f"{name}: {program} is not an entry point of the image"
    if program == "alertflow":
        leaf = resolve(typer.main.get_command(alertflow_app), args)
        assert not is_group(leaf), f"{name}: {command} names a group, not a command"
    else:
        assert callable(resolve_prefect(args)), f"{name}: {command}"


def test_an_unknown_option_is_caught_by_the_command_check() -> None:
    alertflow = typer.main.get_command(alertflow_app)
    with pytest.raises(Exception, match="No such option: --no-such-option"):
        resolve(alertflow, ["ingest", "--source", "x", "--no-such-option"])
    with pytest.raises(Exception, match="No such command 'ingst'"):
        resolve(alertflow, ["ingst"])
    assert resolve(alertflow, ["ingest", "--source", "x", "--no-dispatch"]).name == "ingest"
    with pytest.raises(Exception, match="Unknown command"):
        resolve_prefect(["worker", "begin"])
    with pytest.raises(Exception, match="Unknown option: --bogus"):
        resolve_prefect(["worker", "start", "--pool", "p", "--bogus", "1"])


def test_every_environment_name_is_a_setting() -> None:
    from prefect.settings import Settings as PrefectSettings
    from prefect.settings.legacy import _get_settings_fields
    from prefect_redis.client import RedisMessagingSettings

    prefect_names = set(_get_settings_fields(PrefectSettings))
    prefect_names |= {f"PREFECT_REDIS_MESSAGING_{f.upper()}" for f in RedisMessagingSettings.model_fields}
    ours = {f"ALERTFLOW_{f.upper()}" for f in Settings.model_fields}
    ours |= {f"ALERTFLOW_UP_{f.upper()}" for f in UpSettings.model_fields}
    ours |= {f"ALERTFLOW_CLUSTER_{f.upper()}" for f in ClusterSettings.model_fields}
    sources = {name: list(service["environment"]) for name, service in OURS.items()}
    sources[str(ENV_FILE.relative_to(REPO))] = [v for v in file_values(ENV_FILE) if v != "DO_NOT_TRACK"]
    for name, variables in sources.items():
        for variable in variables:
            if variable.startswith("ALERTFLOW_"):
                assert variable in ours, f"{name}: {variable} is not an alertflow setting"
            else:
                assert variable in prefect_names, f"{name}: {variable} is not a Prefect setting"


def test_published_ports_bind_to_loopback_only() -> None:
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_workers_serve_the_pool_prefect_yaml_deploys_to() -> None:
    command = COMPOSE["services"]["worker"]["command"]
    assert command[command.index("--pool") + 1] == WORK_POOL
    assert ClusterSettings().work_pool == file_values(ENV_FILE)["ALERTFLOW_CLUSTER_WORK_POOL"] == WORK_POOL
    prefect_yaml = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert {d["work_pool"]["name"] for d in prefect_yaml["deployments"]} == {WORK_POOL}


def test_the_dockerfile_copies_every_package_and_pins_dependencies() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for pattern in packages["include"]:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package} \./{package}$", dockerfile, re.M), package
    assert "COPY prefect.yaml" in dockerfile
    assert "-c constraints.txt" in dockerfile
    assert re.search(r"^USER alertflow$", dockerfile, re.M)
