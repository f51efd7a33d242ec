"""The OpenAPI document: the checked-in copy is the app's own, the live server serves it, and
a property-based run of schemathesis against a real ``chiffon serve`` finds no 5xx and no
answer that breaks the document (status, content type, body schema).

The run is bounded (``MAX_EXAMPLES`` a route) so the suite stays quick; ``SCHEMATHESIS_MAX``
in the environment raises it for a longer hunt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chiffon.api.app import OPENAPI_URL, openapi_document
from tests.api.served import Served, chiffon_serve, environment

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "openapi.json"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX", "12"))

schema = schemathesis.openapi.from_dict(openapi_document())


def test_the_checked_in_openapi_document_is_the_apps() -> None:
    checked_in = json.loads(CHECKED_IN.read_text())
    assert checked_in == openapi_document(), (
        "docs/openapi.json is stale: `uv run python -m chiffon.api.app > docs/openapi.json`"
    )


@pytest.fixture(scope="module")
def served(machine_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("schemathesis-home")
    with chiffon_serve(environment(machine_dsn, home)) as found:
        yield found


@pytest.mark.postgres
def test_the_server_serves_the_checked_in_document(served: Served) -> None:
    answer = httpx.get(served.base_url + OPENAPI_URL, timeout=30)
    assert answer.status_code == 200
    assert answer.json() == json.loads(CHECKED_IN.read_text())


@pytest.mark.postgres
@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_answer_is_a_server_error_or_breaks_the_document(
    case: schemathesis.Case[Any], served: Served
) -> None:
    case.call_and_validate(
        base_url=served.base_url,
        headers=served.bearer,
        timeout=30,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
