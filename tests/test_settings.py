"""Every ``CHIFFON_`` setting parses, or stops start-up with one sentence naming it (issue 14):
malformed values fed by hypothesis to each setting through the environment, as a user sets
them, and the CLI's answer to a malformed database URL from a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chiffon.errors import ConfigError
from chiffon.settings import Settings

PASSWORD = "Pw-canary-7x"
"""Put in every URL's password: no error may show it."""

# What an environment variable can hold: no NUL, no lone surrogates.
TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=40,
)
HOSTS = st.sampled_from(
    ["localhost", "[::1", "[::1]", "::1", "[fe80::1%eth0]", "h\u00e9te", "", "a,b", "[]"]
)
PORTS = st.sampled_from(["", ":", ":0", ":5432", ":99999", ":-1", ":abc", ":5432:1", ":\u0663"])
SCHEMES = st.sampled_from(["postgresql", "postgres", "amqp", "amqps", "http", "https", "", "x"])
URLS = st.builds(
    lambda scheme, host, port, tail: f"{scheme}://user:{PASSWORD}@{host}{port}/{tail}",
    SCHEMES,
    HOSTS,
    PORTS,
    TEXT,
)
FIELDS = sorted(Settings.model_fields)


def load(name: str, value: str) -> Settings | ConfigError:
    variable = f"CHIFFON_{name.upper()}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    with mock.patch.dict(os.environ, {**clean, variable: value}, clear=True):
        try:
            return Settings.load(_env_file=None)
        except ConfigError as exc:
            return exc


def assert_one_sentence_naming(name: str, outcome: Settings | ConfigError) -> None:
    if isinstance(outcome, Settings):
        return
    sentence = str(outcome)
    assert sentence.startswith(f"CHIFFON_{name.upper()} is invalid: "), sentence
    assert "\n" not in sentence
    assert sentence.endswith(".")
    assert PASSWORD not in sentence


@pytest.mark.parametrize("name", FIELDS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(TEXT, URLS))
def test_any_value_of_any_setting_parses_or_is_one_sentence_naming_it(
    name: str, value: str
) -> None:
    assert_one_sentence_naming(name, load(name, value))


@pytest.mark.parametrize("name", ["database_url", "amqp_url", "llm_local_api_base"])
@settings(max_examples=200, deadline=None)
@given(url=URLS)
def test_a_malformed_url_never_shows_its_password(name: str, url: str) -> None:
    assert_one_sentence_naming(name, load(name, url))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"postgresql://u:{PASSWORD}@[::1/db", "its host or port does not parse (Invalid IPv6"),
        (f"postgresql://u:{PASSWORD}@db:99999/x", "its host or port does not parse (Port out"),
        (f"mysql://u:{PASSWORD}@db/x", "must be a postgresql:// or postgres:// URL, not mysql://"),
    ],
)
def test_a_malformed_database_url_says_what_is_wrong(url: str, reason: str) -> None:
    outcome = load("database_url", url)
    assert isinstance(outcome, ConfigError)
    assert str(outcome).startswith(f"CHIFFON_DATABASE_URL is invalid: {reason}")


def test_the_cli_refuses_a_malformed_database_url_in_one_sentence_before_planning(
    tmp_path: Path,
) -> None:
    """It was a Python traceback (an invalid IPv6 literal), and the URL was checked only
    after the plan was printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    env.update(
        CHIFFON_HOME=str(tmp_path / "home"),
        CHIFFON_DATABASE_URL=f"postgresql://chiffon:{PASSWORD}@[::1/chiffon",
    )
    examples = Path(__file__).resolve().parents[1] / "examples" / "homelab"
    done = subprocess.run(
        [sys.executable, "-m", "chiffon", "run", "--catalog", str(examples), "--yes",
         "deploy uptime kuma"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "CHIFFON_DATABASE_URL is invalid: its host or port does not parse" in done.stderr
    assert "uptime" not in done.stdout.lower()  # stopped before any plan was shown
