"""compose.yaml, the Containerfile and .ci/run, checked against the code they deploy.

Each check is a small function that returns a list of problems (one sentence each), so the same
function is run on the real files, which must have none, and on small bad samples, which must
have the problem it looks for: a check that cannot fail checks nothing.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from chiffon.cli import app
from chiffon.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

# Subcommands that compose.yaml may name before they exist (none now: serve and agent landed).
PLANNED_SUBCOMMANDS: frozenset[str] = frozenset()

# ${NAME}, ${NAME:?message}, ${NAME:-default}, ${NAME-default}, ${NAME:+alt}, ${NAME+alt}
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")
_CREDENTIAL_NAME = re.compile(r"(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY)(_|$)")
# scheme://user:password@ after interpolations were replaced by placeholders (see below)
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:(?P<password>[^\s/@]*)@")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")


# --- reading the files -------------------------------------------------------------------------


def settings_variables() -> frozenset[str]:
    """Every environment variable that chiffon.settings.Settings reads."""
    return frozenset(f"CHIFFON_{name.upper()}" for name in Settings.model_fields)


def chiffon_subcommands() -> frozenset[str]:
    """The top-level subcommands the ``chiffon`` command line has today, plus the planned ones."""
    group = typer.main.get_group(app)
    return frozenset(group.commands) | PLANNED_SUBCOMMANDS


def load_compose(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict), "compose file is not a mapping"
    return document


def environment_of(service: Mapping[str, Any]) -> dict[str, str | None]:
    """A service's environment as a mapping, whether written as a mapping or as a list."""
    environment = service.get("environment") or {}
    if isinstance(environment, Mapping):
        return {str(k): None if v is None else str(v) for k, v in environment.items()}
    pairs: dict[str, str | None] = {}
    for entry in environment:
        name, sep, value = str(entry).partition("=")
        pairs[name] = value if sep else None
    return pairs


def as_argv(command: str | list[Any] | None) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def containerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def containerfile_env(text: str) -> dict[str, str]:
    """The variables set by ENV, in both ``ENV A=1 B=2`` and legacy ``ENV A 1`` forms."""
    variables: dict[str, str] = {}
    for keyword, arguments in containerfile_instructions(text):
        if keyword != "ENV":
            continue
        words = shlex.split(arguments)
        if words and "=" in words[0]:
            for word in words:
                name, _, value = word.partition("=")
                variables[name] = value
        elif words:
            variables[words[0]] = " ".join(words[1:])
    return variables


def readme_test_command(readme: str) -> str:
    """The test command README.md gives (`uv run pytest …`), or ``uv run pytest`` if none."""
    match = re.search(r"^\s*(?:\$\s*)?`{0,3}(uv run pytest[^`\n#]*)", readme, re.M)
    if match is None:
        match = re.search(r"`(uv run pytest[^`\n#]*)`", readme)
    return match.group(1).strip() if match else "uv run pytest"


# --- the checks --------------------------------------------------------------------------------


def unknown_chiffon_variables(
    compose: Mapping[str, Any], containerfile: str, known: frozenset[str]
) -> list[str]:
    problems = [
        f"compose service {service!r} sets {name}, which is not a Settings field"
        for service, definition in compose.get("services", {}).items()
        for name in environment_of(definition)
        if name.startswith("CHIFFON_") and name not in known
    ]
    problems += [
        f"the Containerfile sets {name}, which is not a Settings field"
        for name in containerfile_env(containerfile)
        if name.startswith("CHIFFON_") and name not in known
    ]
    return problems


def services_without_healthcheck(compose: Mapping[str, Any]) -> list[str]:
    problems = []
    for service, definition in compose.get("services", {}).items():
        check = definition.get("healthcheck")
        if not check or check.get("disable") or as_argv(check.get("test"))[:1] == ["NONE"]:
            problems.append(f"compose service {service!r} has no healthcheck")
    return problems


def dependencies_not_waiting_for_health(compose: Mapping[str, Any]) -> list[str]:
    problems = []
    for service, definition in compose.get("services", {}).items():
        depends_on = definition.get("depends_on") or {}
        if not isinstance(depends_on, Mapping):
            depends_on = {name: {} for name in depends_on}
        problems += [
            f"compose service {service!r} starts without waiting for {dependency!r} to be healthy"
            for dependency, condition in depends_on.items()
            if (condition or {}).get("condition") != "service_healthy"
        ]
    return problems


def _credential_environment(compose: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    for service, definition in compose.get("services", {}).items():
        for name, value in environment_of(definition).items():
            yield service, name, value


def _is_credential(name: str) -> bool:
    """PASSWORD, SECRET, TOKEN, KEY… in the name; a ``*_FILE`` variable holds a path instead."""
    upper = name.upper()
    return _CREDENTIAL_NAME.search(upper) is not None and not upper.endswith("_FILE")


def _reference_only(value: str) -> bool:
    """True when the value is exactly ``${VAR}`` or ``${VAR:?message}``: no literal, no default."""
    match = _INTERPOLATION.fullmatch(value.strip())
    return match is not None and match.group("op") in (None, ":?", "?")


def credentials_with_literal_values(compose_text: str) -> list[str]:
    """Credentials must come from required variables: no literal, no ``:-default`` anywhere."""
    compose = load_compose(compose_text)
    problems = []
    for service, name, value in _credential_environment(compose):
        if _is_credential(name) and (value is None or not _reference_only(value)):
            problems.append(
                f"compose service {service!r} gives {name} a value that is not a required"
                " variable (${VAR:?message} or ${VAR})"
            )
    for match in _INTERPOLATION.finditer(compose_text.replace("$$", "")):
        if _is_credential(match["name"]) and match["op"] not in (None, ":?", "?"):
            problems.append(f"compose.yaml gives {match['name']} a default: {match.group(0)}")
    problems += _urls_with_literal_passwords(compose_text)
    problems += _inline_configs_with_literal_credentials(compose)
    return problems


def _urls_with_literal_passwords(compose_text: str) -> list[str]:
    found = []

    def placeholder(match: re.Match[str]) -> str:
        found.append(match)
        return f"\x00{len(found) - 1}\x00"

    text = _INTERPOLATION.sub(placeholder, compose_text.replace("$$", ""))
    problems = []
    for url in _URL_PASSWORD.finditer(text):
        password = url["password"]
        reference = _PLACEHOLDER.fullmatch(password)
        if reference is None or found[int(reference.group(1))]["op"] not in (None, ":?", "?"):
            shown = _PLACEHOLDER.sub(lambda m: found[int(m.group(1))].group(0), url.group(0))
            problems.append(f"compose.yaml has a URL whose password is not a variable: {shown}")
    return problems


def _inline_configs_with_literal_credentials(compose: Mapping[str, Any]) -> list[str]:
    """Inline configs (``configs: x: content:``) name their secrets by reference too."""
    problems = []
    for config, definition in (compose.get("configs") or {}).items():
        content = definition.get("content")
        if content is None:
            continue
        stack: list[Any] = [yaml.safe_load(content)]
        while stack:
            node = stack.pop()
            if isinstance(node, Mapping):
                for key, value in node.items():
                    if isinstance(value, str) and _is_credential(str(key)):
                        if not (value.startswith("os.environ/") or _reference_only(value)):
                            problems.append(f"config {config!r} has a literal {key}")
                    else:
                        stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)
    return problems


def undeclared_volumes(compose: Mapping[str, Any]) -> list[str]:
    declared = set(compose.get("volumes") or {})
    problems = []
    for service, definition in compose.get("services", {}).items():
        for volume in definition.get("volumes") or []:
            if isinstance(volume, Mapping):
                source = volume.get("source") if volume.get("type") == "volume" else None
            else:
                source, sep, _ = str(volume).partition(":")
                source = source if sep and not source.startswith(("/", ".", "~", "$")) else None
            if source and source not in declared:
                problems.append(f"compose service {service!r} uses volume {source!r}, not declared")
    return problems


def _chiffon_services(compose: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The services that run the image built from the Containerfile."""
    services: Mapping[str, Mapping[str, Any]] = compose.get("services", {})
    built_images = {s.get("image") for s in services.values() if s.get("build")}
    return {
        name: s
        for name, s in services.items()
        if s.get("build") or (s.get("image") and s.get("image") in built_images)
    }


def unknown_chiffon_commands(
    compose: Mapping[str, Any], containerfile: str, known: frozenset[str]
) -> list[str]:
    default_cmd: list[str] = []
    for keyword, arguments in containerfile_instructions(containerfile):
        if keyword == "CMD":
            default_cmd = json.loads(arguments) if arguments.startswith("[") else arguments.split()
    problems = []
    for service, definition in _chiffon_services(compose).items():
        argv = as_argv(definition.get("command")) or default_cmd
        if not argv or argv[0] not in known:
            problems.append(f"compose service {service!r} runs `chiffon {' '.join(argv)}`")
        test = as_argv((definition.get("healthcheck") or {}).get("test"))
        if "chiffon" in test:
            after = test[test.index("chiffon") + 1 :]
            if not after or after[0] not in known:
                problems.append(f"compose service {service!r} checks health with {test!r}")
    return problems


def serve_problems(compose: Mapping[str, Any]) -> list[str]:
    """A service running ``chiffon serve`` listens where its port is published from, on an
    address off the container's loopback (else nothing outside it reaches the API) with TLS
    or ``--insecure-http`` (as the command itself requires), publishes plain HTTP on the
    host's loopback only, and checks its health on ``/health`` at that port."""
    from chiffon.api.server import is_loopback, parse_listen

    problems = []
    for service, definition in _chiffon_services(compose).items():
        argv = as_argv(definition.get("command"))
        if argv[:1] != ["serve"]:
            continue
        listen = argv[argv.index("--listen") + 1] if "--listen" in argv[:-1] else "127.0.0.1:8080"
        host, port = parse_listen(listen)
        tls = "--tls-cert" in argv and "--tls-key" in argv
        if is_loopback(host):
            problems.append(f"compose service {service!r} listens on {listen}, inside only")
        elif not tls and "--insecure-http" not in argv:
            problems.append(f"compose service {service!r} listens off loopback without TLS")
        published = [str(p).rsplit(":", 2) for p in definition.get("ports") or ()]
        mine = [p for p in published if p[-1].split("/")[0] == str(port)]
        if not mine:
            problems.append(f"compose service {service!r} does not publish its port {port}")
        for parts in mine:
            if not tls and (len(parts) < 3 or not is_loopback(parts[0])):
                problems.append(
                    f"compose service {service!r} publishes plain HTTP beyond the host's loopback"
                )
        test = " ".join(as_argv((definition.get("healthcheck") or {}).get("test")))
        if f":{port}/health" not in test:
            problems.append(f"compose service {service!r} does not check /health on port {port}")
    return problems


def containerfile_problems(text: str) -> list[str]:
    instructions = containerfile_instructions(text)
    stages = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    problems = []
    if len(stages) < 2:
        problems.append("the Containerfile has a single stage: build in one, run in another")
    final_stage = instructions[stages[-1] :] if stages else instructions
    users = [arguments for keyword, arguments in final_stage if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the Containerfile's final stage runs as root")
    entrypoints = [arguments for keyword, arguments in final_stage if keyword == "ENTRYPOINT"]
    if not entrypoints or not entrypoints[-1].startswith("["):
        problems.append("the Containerfile has no exec-form ENTRYPOINT")
    elif json.loads(entrypoints[-1])[:1] != ["chiffon"]:
        problems.append(f"the Containerfile's ENTRYPOINT is {entrypoints[-1]}, not chiffon")
    if not any(k == "RUN" and "uv sync --locked" in a for k, a in instructions):
        problems.append("the Containerfile does not install from the lockfile (uv sync --locked)")
    return problems


def ci_script_problems(ci_script: str, test_command: str) -> list[str]:
    for raw in ci_script.splitlines():
        line = raw.strip()
        if line == test_command or line.startswith(f"{test_command} "):
            return []
    return [f".ci/run does not run the README's test command `{test_command}`"]


# --- the real files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (ROOT / "compose.yaml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    return load_compose(compose_text)


@pytest.fixture(scope="module")
def containerfile() -> str:
    return (ROOT / "Containerfile").read_text()


def test_compose_runs_every_service_chiffon_needs(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {
        "postgres", "rabbitmq", "ollama", "litellm", "orchestrator", "agent"
    }  # fmt: skip


def test_every_chiffon_variable_in_compose_and_the_containerfile_is_a_settings_field(
    compose: dict[str, Any], containerfile: str
) -> None:
    assert unknown_chiffon_variables(compose, containerfile, settings_variables()) == []


def test_every_compose_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    assert services_without_healthcheck(compose) == []


def test_every_dependency_waits_until_it_is_healthy(compose: dict[str, Any]) -> None:
    assert dependencies_not_waiting_for_health(compose) == []


def test_compose_credentials_come_only_from_required_variables(compose_text: str) -> None:
    assert credentials_with_literal_values(compose_text) == []


def test_every_named_volume_in_compose_is_declared(compose: dict[str, Any]) -> None:
    assert undeclared_volumes(compose) == []


def test_the_chiffon_services_run_real_or_planned_subcommands(
    compose: dict[str, Any], containerfile: str
) -> None:
    assert set(_chiffon_services(compose)) == {"orchestrator", "agent"}
    assert unknown_chiffon_commands(compose, containerfile, chiffon_subcommands()) == []


def test_the_serve_service_publishes_its_port_and_checks_health_on_it(
    compose: dict[str, Any],
) -> None:
    assert as_argv(compose["services"]["orchestrator"]["command"])[0] == "serve"
    assert serve_problems(compose) == []


def test_the_orchestrator_database_url_is_composed_from_the_required_password(
    compose: dict[str, Any],
) -> None:
    url = environment_of(compose["services"]["orchestrator"])["CHIFFON_DATABASE_URL"]
    assert url is not None
    assert url.startswith("postgresql://chiffon:${POSTGRES_PASSWORD:?")
    assert url.endswith("@postgres:5432/chiffon")


def test_the_containerfile_builds_in_stages_and_runs_chiffon_as_a_user(containerfile: str) -> None:
    assert containerfile_problems(containerfile) == []


def test_the_containerfile_keeps_chiffon_home_in_a_volume(containerfile: str) -> None:
    home = containerfile_env(containerfile)["CHIFFON_HOME"]
    volumes = [a for k, a in containerfile_instructions(containerfile) if k == "VOLUME"]
    assert volumes
    assert home in json.loads(volumes[-1])


def test_ci_runs_the_readme_test_command() -> None:
    command = readme_test_command((ROOT / "README.md").read_text())
    assert ci_script_problems((ROOT / ".ci" / "run").read_text(), command) == []


def test_ci_script_is_executable() -> None:
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111


# --- the checks catch what they are for --------------------------------------------------------

BAD_COMPOSE = """
services:
  db:
    image: postgres:17
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-password}
    volumes:
      - forgotten:/var/lib/postgresql/data
  broker:
    image: rabbitmq:4-management
    environment:
      - RABBITMQ_DEFAULT_PASS=guest
    healthcheck:
      test: ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
  app:
    build: .
    command: ["serv"]
    environment:
      CHIFFON_DB_URL: postgresql://chiffon:hunter2@db/chiffon
      CHIFFON_LOG_LEVEL: info
    depends_on: [db]
    healthcheck:
      test: ["CMD", "chiffon", "status"]
configs:
  proxy:
    content: |
      general_settings:
        master_key: sk-1234
"""

BAD_CONTAINERFILE = """
FROM python:3.11-slim
ENV CHIFFON_HOME=/data CHIFFON_DATA_DIR=/data
RUN pip install .
ENTRYPOINT python -m chiffon
"""


@pytest.fixture
def bad_compose() -> dict[str, Any]:
    return load_compose(BAD_COMPOSE)


def test_an_unknown_chiffon_variable_is_reported(bad_compose: dict[str, Any]) -> None:
    problems = unknown_chiffon_variables(bad_compose, BAD_CONTAINERFILE, settings_variables())
    assert problems == [
        "compose service 'app' sets CHIFFON_DB_URL, which is not a Settings field",
        "the Containerfile sets CHIFFON_DATA_DIR, which is not a Settings field",
    ]


def test_a_service_without_a_healthcheck_is_reported(bad_compose: dict[str, Any]) -> None:
    assert services_without_healthcheck(bad_compose) == ["compose service 'db' has no healthcheck"]


def test_a_disabled_healthcheck_counts_as_none() -> None:
    compose = load_compose("services:\n  x:\n    image: a\n    healthcheck:\n      disable: true\n")
    assert services_without_healthcheck(compose) == ["compose service 'x' has no healthcheck"]


def test_a_dependency_without_a_health_condition_is_reported(bad_compose: dict[str, Any]) -> None:
    assert dependencies_not_waiting_for_health(bad_compose) == [
        "compose service 'app' starts without waiting for 'db' to be healthy"
    ]


def test_default_and_literal_passwords_are_reported() -> None:
    problems = credentials_with_literal_values(BAD_COMPOSE)
    assert any("'db' gives POSTGRES_PASSWORD" in p for p in problems)
    assert any("POSTGRES_PASSWORD a default: ${POSTGRES_PASSWORD:-password}" in p for p in problems)
    assert any("'broker' gives RABBITMQ_DEFAULT_PASS" in p for p in problems)
    assert any("postgresql://chiffon:hunter2@" in p for p in problems)
    assert any("config 'proxy' has a literal master_key" in p for p in problems)
    assert len(problems) == 5


def test_a_url_password_with_a_default_is_reported() -> None:
    text = (
        "services:\n  app:\n    environment:\n"
        "      CHIFFON_AMQP_URL: amqp://u:${BROKER_PASSWORD:-guest}@broker:5672/\n"
    )
    problems = credentials_with_literal_values(text)
    assert "compose.yaml gives BROKER_PASSWORD a default: ${BROKER_PASSWORD:-guest}" in problems
    assert any("URL whose password is not a variable" in p for p in problems)


def test_a_required_url_password_is_accepted() -> None:
    text = (
        "services:\n  app:\n    environment:\n"
        "      CHIFFON_AMQP_URL: amqp://u:${BROKER_PASSWORD:?set it, please}@broker:5672/\n"
        "      API_TOKEN: ${API_TOKEN}\n"
    )
    assert credentials_with_literal_values(text) == []


def test_an_undeclared_named_volume_is_reported(bad_compose: dict[str, Any]) -> None:
    assert undeclared_volumes(bad_compose) == [
        "compose service 'db' uses volume 'forgotten', not declared"
    ]


def test_a_bind_mount_is_not_a_named_volume() -> None:
    compose = load_compose("services:\n  x:\n    volumes: ['./conf:/etc/conf:ro', '/srv:/srv']\n")
    assert undeclared_volumes(compose) == []


def test_an_unknown_chiffon_subcommand_is_reported(bad_compose: dict[str, Any]) -> None:
    problems = unknown_chiffon_commands(bad_compose, BAD_CONTAINERFILE, chiffon_subcommands())
    assert problems == [
        "compose service 'app' runs `chiffon serv`",
        "compose service 'app' checks health with ['CMD', 'chiffon', 'status']",
    ]


def test_a_serve_service_unreachable_or_unchecked_is_reported() -> None:
    inside = load_compose(
        "services:\n  o:\n    build: .\n    command: [serve]\n"
        "    healthcheck: {test: [CMD, chiffon, db, current]}\n"
    )
    assert serve_problems(inside) == [
        "compose service 'o' listens on 127.0.0.1:8080, inside only",
        "compose service 'o' does not publish its port 8080",
        "compose service 'o' does not check /health on port 8080",
    ]
    exposed = load_compose(
        "services:\n  o:\n    build: .\n    command: [serve, --listen, '0.0.0.0:9000']\n"
        "    ports: ['9000:9000']\n"
        "    healthcheck: {test: [CMD, curl, 'http://127.0.0.1:9000/health']}\n"
    )
    assert serve_problems(exposed) == [
        "compose service 'o' listens off loopback without TLS",
        "compose service 'o' publishes plain HTTP beyond the host's loopback",
    ]


def test_the_planned_and_the_existing_subcommands_are_known() -> None:
    assert chiffon_subcommands() >= {"serve", "agent", "db", "run", "approve", "bench"}


def test_a_single_stage_root_containerfile_is_reported() -> None:
    assert containerfile_problems(BAD_CONTAINERFILE) == [
        "the Containerfile has a single stage: build in one, run in another",
        "the Containerfile's final stage runs as root",
        "the Containerfile has no exec-form ENTRYPOINT",
        "the Containerfile does not install from the lockfile (uv sync --locked)",
    ]


def test_a_user_set_only_in_the_builder_stage_does_not_count() -> None:
    text = (
        "FROM a AS builder\nUSER builder\nRUN uv sync --locked\n"
        'FROM b\nUSER 0:0\nENTRYPOINT ["python"]\n'
    )
    assert containerfile_problems(text) == [
        "the Containerfile's final stage runs as root",
        """the Containerfile's ENTRYPOINT is ["python"], not chiffon""",
    ]


def test_a_ci_script_without_the_test_command_is_reported() -> None:
    script = "#!/usr/bin/env bash\nuv run ruff check\n# uv run pytest\nuv run pytest-watch\n"
    assert ci_script_problems(script, "uv run pytest") == [
        ".ci/run does not run the README's test command `uv run pytest`"
    ]


def test_the_readme_test_command_is_read_from_a_code_span_or_block() -> None:
    assert readme_test_command("Run the tests with `uv run pytest -x`.") == "uv run pytest -x"
    assert readme_test_command("```\nuv run pytest\n```\n") == "uv run pytest"
    assert readme_test_command("# Chiffon\n") == "uv run pytest"
