"""docker-compose.yaml cannot run here (no Docker engine): check its structure against what the DAGs need, and every
command, option and connection it makes Airflow use against the installed Airflow and providers."""

import inspect
import json
import os
import re
import shlex
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init"]


def test_the_compose_file_has_the_services_of_a_celery_deployment_with_minio():
    assert set(COMPOSE["services"]) == {"postgres", "redis", "minio", "minio-init", *AIRFLOW_SERVICES}


def test_every_long_running_service_has_a_healthcheck():
    for name, service in COMPOSE["services"].items():
        if name not in ("airflow-init", "minio-init"):
            assert "healthcheck" in service, name


def test_every_airflow_service_mounts_the_project_and_reaches_s3_through_the_connection():
    for name in AIRFLOW_SERVICES:
        service = COMPOSE["services"][name]
        mounts = {volume.rsplit(":", 1)[1] for volume in service["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/config"} <= mounts, name
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert yaml.safe_load(env["AIRFLOW_CONN_MONITORING_S3"])["extra"]["endpoint_url"] == "http://minio:9000"
        assert env["MONITORING_CONFIG"] == "/opt/airflow/config/models.yaml"


def test_every_airflow_service_warms_its_task_processes_as_the_demo_and_the_tests_do():
    """The settings that preload Evidently and the rest once per worker (monitoring_airflow/warm_workers.py), for the
    CeleryExecutor of this file and for a LocalExecutor alike; the module they name imports only third-party code."""
    from monitoring_airflow.warm_workers import ENVIRONMENT, PRELOAD

    for name in AIRFLOW_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert {k: env.get(k) for k in ENVIRONMENT} == ENVIRONMENT, name
    source = (ROOT / (PRELOAD.replace(".", "/") + ".py")).read_text()
    imported = re.findall(r"^(?:import|from) ([\w.]+)", source, flags=re.M)
    assert "evidently" in imported and not [m for m in imported if m.split(".")[0] in ("monitoring", "dags")]


def test_the_image_runs_the_airflow_version_the_project_pins():
    pinned = re.search(r"^apache-airflow==([\d.]+)$", (ROOT / "constraints.txt").read_text(), flags=re.M).group(1)
    base = re.search(r"^FROM apache/airflow:([\d.]+)-python([\d.]+)$", (ROOT / "Dockerfile").read_text(), flags=re.M)
    assert base.group(1) == pinned and base.group(2) == "3.11"
    assert COMPOSE["x-airflow-common"]["build"] == "."  # every Airflow service runs that image


def test_the_bucket_the_config_names_is_created_by_the_init_service():
    config = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    bucket = config["defaults"]["storage"]["bucket"]
    assert f"local/{bucket}" in COMPOSE["services"]["minio-init"]["entrypoint"]


# --- The compose file against the installed Airflow ----------------------------------------------------------------
# Everything the compose file makes Airflow do (its commands, its AIRFLOW__* options, its connections) is checked by
# the installed Airflow and providers themselves: the pinned set (requirements.txt, constraints.txt) that the image
# installs too. A probe runs in a fresh interpreter whose environment is a service's, as in its container.

AIRFLOW_HOME = "/opt/airflow"  # the official image's
OPTION_VARIABLE = re.compile(r"AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)")
# Read by the official image's /entrypoint (scripts/docker/entrypoint_prod.sh of apache/airflow), not by Airflow.
IMAGE_ENTRYPOINT_VARIABLES = {
    "_AIRFLOW_DB_MIGRATE", "_AIRFLOW_DB_UPGRADE", "_AIRFLOW_WWW_USER_CREATE", "_AIRFLOW_WWW_USER_USERNAME",
    "_AIRFLOW_WWW_USER_PASSWORD", "_AIRFLOW_WWW_USER_PASSWORD_CMD", "_AIRFLOW_WWW_USER_FIRSTNAME",
    "_AIRFLOW_WWW_USER_LASTNAME", "_AIRFLOW_WWW_USER_EMAIL", "_AIRFLOW_WWW_USER_ROLE", "_PIP_ADDITIONAL_REQUIREMENTS",
    "CONNECTION_CHECK_MAX_COUNT", "CONNECTION_CHECK_SLEEP_TIME", "DUMB_INIT_SETSID",
}
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}


def interpolate(value):
    """Compose's interpolation with nothing set in the shell: `${VAR:-default}` gives the default, `$$` a `$`."""
    if not isinstance(value, str):
        return value
    return re.sub(r"\$\$|\$\{\w+(?::?-([^}]*))?\}|\$\w+",
                  lambda match: "$" if match.group(0) == "$$" else (match.group(1) or ""), value)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: interpolate(str(value)) for name, value in env.items()}


def words_of(value) -> list[str]:
    return [interpolate(str(word)) for word in value] if isinstance(value, list) else shlex.split(interpolate(value))


def simple_commands(script: str) -> list[list[str]]:
    """A shell script's simple commands (split at `&&`, `||`, `;`, `|`, `&` and new lines), as words."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = []
        for token in lexer:
            if token in SHELL_OPERATORS:
                commands.append(words)
                words = []
            else:
                words.append(token)
        commands.append(words)
    return [command for command in commands if command]


def entrypoint_runs(env: dict[str, str], argv: list[str]) -> list[list[str]]:
    """The `airflow` commands the image's /entrypoint runs itself before `exec airflow <argv>`."""
    runs = [["db", "check"]]  # waiting for the database
    if env.get("_AIRFLOW_DB_MIGRATE") or env.get("_AIRFLOW_DB_UPGRADE"):
        runs.append(["db", "migrate"])
    if env.get("_AIRFLOW_WWW_USER_CREATE"):
        runs.append(["config", "get-value", "core", "auth_manager"])  # it creates the user with FAB only
        runs.append(["users", "create",
                     "--username", env.get("_AIRFLOW_WWW_USER_USERNAME", "admin"),
                     "--firstname", env.get("_AIRFLOW_WWW_USER_FIRSTNAME", "Airflow"),
                     "--lastname", env.get("_AIRFLOW_WWW_USER_LASTNAME", "Admin"),
                     "--email", env.get("_AIRFLOW_WWW_USER_EMAIL", "airflowadmin@example.com"),
                     "--role", env.get("_AIRFLOW_WWW_USER_ROLE", "Admin"),
                     "--password", env.get("_AIRFLOW_WWW_USER_PASSWORD", "")])
    if argv[:1] in (["scheduler"], ["celery"]):  # waiting for the broker
        runs += [["config", "get-value", "core", "executor"], ["config", "get-value", "celery", "broker_url"]]
    return runs


def after_wrappers(words: list[str]) -> list[str]:
    while words and words[0] in ("exec", "/usr/bin/dumb-init", "--"):
        words = words[1:]
    return words


def commands_of(name: str) -> dict[str, list[tuple[str, list[str]]]]:
    """What a service runs: {"airflow": [(where, argv after `airflow`)], "celery": [(where, argv after `celery`)]}."""
    service = COMPOSE["services"][name]
    env = environment(service)
    found = {"airflow": [], "celery": []}

    def run(words: list[str], where: str, through_entrypoint: bool):
        words = after_wrappers(words)
        if words[:1] == ["/entrypoint"]:
            words, through_entrypoint = words[1:], True
        if through_entrypoint and words[:1] in (["bash"], ["python"]):
            through_entrypoint = False  # the entrypoint execs those as they are
        if through_entrypoint and words[:1] != ["airflow"]:
            words = ["airflow", *words]  # the entrypoint's `exec airflow "$@"`
        if through_entrypoint:
            found["airflow"] += [(f"{where}, by the image's /entrypoint", argv)
                                 for argv in entrypoint_runs(env, words[1:])]
        if words[:1] in (["bash"], ["/bin/bash"], ["sh"], ["/bin/sh"]) and "-c" in words:
            for command in simple_commands(words[words.index("-c") + 1]):
                run(command, where, through_entrypoint=False)
        elif words[:1] in (["airflow"], ["celery"]):
            found[words[0]].append((where, words[1:]))

    entrypoint = service.get("entrypoint")
    command = words_of(service.get("command") or [])
    if entrypoint is None:
        run(command, "command", through_entrypoint=True)
    else:
        run(words_of(entrypoint) + command, "command", through_entrypoint=False)
    test = (service.get("healthcheck") or {}).get("test") or []
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test[:1] == ["CMD-SHELL"]:
        for words in simple_commands(interpolate(test[1])):
            run(words, "healthcheck", through_entrypoint=False)
    elif test[:1] == ["CMD"]:
        run(words_of(test[1:]), "healthcheck", through_entrypoint=False)
    return found


def _probe(request: dict) -> dict:
    """Run in a fresh interpreter with a service's environment: what the installed Airflow makes of it."""
    import contextlib
    import inspect
    import io
    import warnings

    from airflow.configuration import conf, retrieve_configuration_description

    report = {}
    description = retrieve_configuration_description(include_airflow=True, include_providers=True)
    report["options"] = {section: sorted(body.get("options", {})) for section, body in description.items()}
    report["defaults"] = {f"{section}.{key}": option.get("default") for section, body in description.items()
                          for key, option in body.get("options", {}).items()}
    report["renamed"] = {f"{old[0]}.{old[1]}": f"{new[0]}.{new[1]}"
                         for old, new in conf.inversed_deprecated_options.items()}
    report["sensitive"] = sorted(f"{section}.{key}" for section, key in conf.sensitive_config_values)
    report["values"] = {f"{section}.{key}": conf.get(section, key, fallback=None)
                        for section, key in request["options"]}

    from airflow._shared.module_loading import import_string
    from airflow.executors.executor_loader import ExecutorLoader

    executor, _ = ExecutorLoader.import_default_executor_cls()
    report["executor"] = f"{executor.__module__}.{executor.__qualname__}"

    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES, get_auth_manager_cls
    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager
    from airflow.api_fastapi.core_api.routes.public import public_router

    auth_manager = get_auth_manager_cls()
    report["auth_manager"] = f"{auth_manager.__module__}.{auth_manager.__qualname__}"
    report["auth_manager_is_an_auth_manager"] = issubclass(auth_manager, BaseAuthManager)
    report["api_paths"] = sorted({route.path for route in public_router.routes} | set(RESERVED_URL_PREFIXES))

    from airflow import settings

    if settings.engine is None:
        settings.configure_orm()
    report["engines"] = {"sync": settings.engine.url.drivername, "async": settings.async_engine.url.drivername,
                         "host": settings.engine.url.host}

    from celery import Celery
    from celery.app.control import Inspect
    from celery.bin.celery import celery as celery_cli

    report["celery"] = []
    for argv in request["celery"]:
        entry = {"argv": argv}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # click's protected_args
                context = celery_cli.make_context("celery", list(argv))
                name, command, rest = celery_cli.resolve_command(context, [*context.protected_args, *context.args])
                params = command.make_context(name, rest, parent=context).params
            app = import_string(context.params["app"])
            entry.update(ok=isinstance(app, Celery), broker_url=app.conf.broker_url,
                         result_backend=app.conf.result_backend)
            if name == "inspect" and not callable(getattr(Inspect, params["command"], None)):
                entry.update(ok=False, error=f"celery inspect has no {params['command']!r}")
        except Exception as error:  # noqa: BLE001 - reported
            entry.update(ok=False, error=repr(error))
        report["celery"].append(entry)

    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    report["airflow"] = []
    for argv in request["airflow"]:
        entry, errors = {"argv": argv}, io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
                args = parser.parse_args(argv)
            implementation = inspect.getclosurevars(args.func).nonlocals.get("import_path")
            if implementation:  # the CLI imports a command's code only when it runs: import it now
                import_string(implementation)
            entry.update(ok=True, implementation=implementation)
        except SystemExit:
            entry.update(ok=False, error=errors.getvalue().strip().splitlines()[-1])
        except Exception as error:  # noqa: BLE001 - reported
            entry.update(ok=False, error=repr(error))
        report["airflow"].append(entry)

    from airflow.providers_manager import ProvidersManager
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    report["connections"] = {}
    for conn_id in request["connections"]:
        try:
            connection = EnvironmentVariablesBackend().get_connection(conn_id)
            hook = ProvidersManager().hooks.get(connection.conn_type)
            report["connections"][conn_id] = {
                "conn_type": connection.conn_type, "login": connection.login, "password": connection.password,
                "extra": connection.extra_dejson, "hook": hook.hook_class_name if hook else None}
        except Exception as error:  # noqa: BLE001 - reported
            report["connections"][conn_id] = {"error": repr(error)}
    return report


def airflow_variables(env: dict[str, str]) -> dict[str, str]:
    """The variables Airflow itself reads (the probe's key: services that share them share a probe)."""
    return {name: value for name, value in env.items() if name.startswith("AIRFLOW")}


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict[str, dict]:
    """The probe's report for each Airflow service, one probe per distinct set of Airflow variables."""
    groups: dict[tuple, list[str]] = {}
    for name in AIRFLOW_SERVICES:
        key = tuple(sorted(airflow_variables(environment(COMPOSE["services"][name])).items()))
        groups.setdefault(key, []).append(name)
    reports = {}
    for key, names in groups.items():
        variables = dict(key)
        commands = [commands_of(name) for name in names]
        request = {
            "options": sorted({tuple(match.group(1, 2)) for name in variables
                               if (match := OPTION_VARIABLE.fullmatch(name))}),
            "airflow": [argv for found in commands for _, argv in found["airflow"]],
            "celery": [argv for found in commands for _, argv in found["celery"]],
            "connections": [name.removeprefix("AIRFLOW_CONN_").lower() for name in variables
                            if name.startswith("AIRFLOW_CONN_")],
        }
        request["options"] = [[section.lower(), key.lower()] for section, key in request["options"]]
        home = tmp_path_factory.mktemp("compose-airflow-home")
        env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
        env.update(variables, AIRFLOW_HOME=str(home))
        out = home / "report.json"
        code = (inspect.getsource(_probe)
                + f"\nimport json, sys\nopen({str(out)!r}, 'w').write(json.dumps(_probe(json.load(sys.stdin))))\n")
        done = subprocess.run([sys.executable, "-c", code], input=json.dumps(request), env=env, cwd=home,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"the probe failed for {names}:\n{done.stderr[-4000:]}"
        report = json.loads(out.read_text())
        for name in names:
            reports[name] = report
    return reports


def test_every_airflow_command_the_compose_runs_is_a_command_of_the_installed_cli(probes):
    """Services' commands, the init script, healthchecks and what the image's /entrypoint runs, parsed by the
    installed CLI's own parser (subcommands, options and choices), and each command's code imports."""
    ran = set()
    for name in AIRFLOW_SERVICES:
        results = {tuple(entry["argv"]): entry for entry in probes[name]["airflow"]}
        for where, argv in commands_of(name)["airflow"]:
            entry = results[tuple(argv)]
            assert entry["ok"], f"{name} ({where}): `airflow {shlex.join(argv)}`: {entry['error']}"
            ran.add(" ".join(word for word in argv[:2] if not word.startswith("-")))
    # what a Celery deployment needs, so that a parsing slip in this test cannot pass by finding nothing
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker", "jobs check", "pools set",
            "db check", "db migrate", "users create"} <= ran, ran


def test_the_worker_healthcheck_pings_the_installed_celery_executor_s_app(probes):
    pings = commands_of("airflow-worker")["celery"]
    assert pings, "the worker's healthcheck should ping its Celery app"
    results = {tuple(entry["argv"]): entry for entry in probes["airflow-worker"]["celery"]}
    for where, argv in pings:
        entry = results[tuple(argv)]
        assert entry["ok"], f"airflow-worker ({where}): `celery {shlex.join(argv)}`: {entry.get('error')}"
        assert argv[argv.index("--app") + 1] == "airflow.providers.celery.executors.celery_executor.app"
        assert argv[argv.index("-d") + 1] == "celery@${HOSTNAME}"  # the worker's default node name


PER_COMPONENT = ("mp_start_method", "mp_forkserver_preload")


def test_every_airflow_variable_is_an_option_of_the_installed_airflow_or_its_providers(probes):
    for name in AIRFLOW_SERVICES:
        report = probes[name]
        for variable, value in environment(COMPOSE["services"][name]).items():
            if variable.startswith("_"):
                assert variable in IMAGE_ENTRYPOINT_VARIABLES, f"{name}: {variable} is read by nothing"
                continue
            if not variable.upper().startswith("AIRFLOW"):
                continue
            if variable in ("AIRFLOW_HOME", "AIRFLOW_CONFIG") or variable.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
                continue
            match = OPTION_VARIABLE.fullmatch(variable)
            assert match, f"{name}: {variable} is no AIRFLOW__<SECTION>__<KEY> variable"
            section, key = match.group(1).lower(), match.group(2).lower()
            if key.endswith(("_cmd", "_secret")) and key not in report["options"].get(section, []):
                key = key.rsplit("_", 1)[0]
                assert f"{section}.{key}" in report["sensitive"], f"{name}: {variable}: only sensitive options"
            if key in PER_COMPONENT and section in ("scheduler", "triggerer", "dag_processor"):
                section = "core"  # documented under [core]: "can be overridden per component" in these sections
            assert f"{section}.{key}" not in report["renamed"], \
                f"{name}: {variable} is deprecated: [{report['renamed'][f'{section}.{key}'].replace('.', '] ')}"
            assert key in report["options"].get(section, []), \
                f"{name}: {variable}: no option [{section}] {key} in the installed Airflow and providers"
            if f"{section}.{key}" in report["values"]:
                assert report["values"][f"{section}.{key}"] == value, f"{name}: Airflow does not read {variable}"


def test_the_deployment_s_options_name_what_a_celery_deployment_on_postgres_and_redis_needs(probes):
    services = set(COMPOSE["services"])
    report = probes["airflow-scheduler"]
    values = report["values"]

    assert values["core.executor"] == "CeleryExecutor"
    # the class Airflow's executor loader imports for it
    assert report["executor"] == "airflow.providers.celery.executors.celery_executor.CeleryExecutor"

    database = urlsplit(values["database.sql_alchemy_conn"])
    assert database.scheme == "postgresql+psycopg2" and database.hostname in services
    # Airflow derives its async engine from the same URL: both drivers are installed
    assert report["engines"] == {"sync": "postgresql+psycopg2", "async": "postgresql+asyncpg", "host": "postgres"}
    broker = urlsplit(values["celery.broker_url"])
    assert broker.scheme == "redis" and broker.hostname == "redis" and broker.port == 6379
    # the driver named: SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3, which is not installed (the worker dies)
    assert urlsplit(values["celery.result_backend"]).scheme == "db+postgresql+psycopg2"
    assert urlsplit(values["celery.result_backend"]).hostname == "postgres"
    pings = probes["airflow-worker"]["celery"]
    assert {(entry["broker_url"], entry["result_backend"]) for entry in pings} == \
        {(values["celery.broker_url"], values["celery.result_backend"])}

    # the init service creates the UI login with `airflow users create`: the entrypoint does that with FAB only
    assert "FabAuthManager" in values["core.auth_manager"]
    assert report["auth_manager"] == values["core.auth_manager"] and report["auth_manager_is_an_auth_manager"]

    # workers reach the execution API of the api-server service, on the port the api-server listens on
    execution = urlsplit(values["core.execution_api_server_url"])
    assert execution.hostname == "airflow-apiserver" and execution.hostname in services
    assert execution.port == int(report["defaults"]["api.port"])
    assert "/" + execution.path.strip("/") in report["api_paths"]


def test_the_healthchecks_probe_the_ports_and_paths_the_installed_airflow_serves(probes):
    def url_of(name):
        test = COMPOSE["services"][name]["healthcheck"]["test"]
        return urlsplit(next(word for word in test if word.startswith("http")))

    report = probes["airflow-scheduler"]
    assert report["values"]["scheduler.enable_health_check"].lower() == "true"
    scheduler = url_of("airflow-scheduler")
    assert scheduler.port == int(report["defaults"]["scheduler.scheduler_health_check_server_port"])
    assert scheduler.path == "/health"
    api = url_of("airflow-apiserver")
    assert api.port == int(report["defaults"]["api.port"])
    assert api.path in report["api_paths"]
    assert COMPOSE["services"]["airflow-apiserver"]["ports"] == [f"{api.port}:{api.port}"]


def test_the_mounts_are_the_folders_the_installed_airflow_reads_in_the_image(probes):
    defaults = probes["airflow-scheduler"]["defaults"]
    expected = {defaults[option].replace("{AIRFLOW_HOME}", AIRFLOW_HOME)
                for option in ("core.dags_folder", "core.plugins_folder", "logging.base_log_folder")}
    for name in AIRFLOW_SERVICES:
        mounts = {volume.rsplit(":", 1)[1] for volume in COMPOSE["services"][name]["volumes"]}
        assert expected <= mounts, name


def test_the_connections_parse_as_airflow_connections_of_installed_types(probes):
    config = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    conn_id = config["defaults"]["storage"]["aws_conn_id"]
    minio = COMPOSE["services"]["minio"]
    env = environment(minio)
    for name in AIRFLOW_SERVICES:
        connections = probes[name]["connections"]
        assert conn_id in connections, f"{name} has no connection {conn_id}, which the models' storage names"
        for connection_id, connection in connections.items():
            assert "error" not in connection, f"{name}: {connection_id}: {connection.get('error')}"
            assert connection["hook"], f"{name}: {connection_id}: no installed provider has {connection['conn_type']}"
        s3 = connections[conn_id]
        assert s3["conn_type"] == "aws"
        assert s3["hook"] == "airflow.providers.amazon.aws.hooks.base_aws.AwsGenericHook"
        assert (s3["login"], s3["password"]) == (env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"])
        endpoint = urlsplit(s3["extra"]["endpoint_url"])
        assert endpoint.hostname == "minio" and f"{endpoint.port}:{endpoint.port}" in minio["ports"]


def test_the_image_is_built_on_the_installed_airflow_and_python_and_installs_the_pinned_set():
    from importlib.metadata import version

    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\d+\.\d+)\s*$", dockerfile, re.MULTILINE)
    assert base, "the image should be built on an official apache/airflow image"
    assert base.group(1) == version("apache-airflow")
    assert base.group(2) == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert re.search(r"pip install .*-r \S*requirements\.txt -c \S*constraints\.txt", dockerfile)
