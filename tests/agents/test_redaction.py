"""Secrets never leave the agent: the Redactor on its own, then around real playbook runs
whose tasks print the secret, write it where a diff shows it, and fail quoting it."""

from __future__ import annotations

import json
from pathlib import Path

from chiffon.agents.infra import REDACTED, PlaybookEvent, Redactor, run_playbook
from chiffon.catalog import Catalog

SECRET = 's3cr3t-"quoted"-v@lue'
ESCAPED = json.dumps(SECRET)[1:-1]  # how it looks inside a JSON result


def test_a_redactor_replaces_every_occurrence_of_every_secret() -> None:
    redactor = Redactor(["hunter2", "hunter2-longer"])
    assert redactor.text("a hunter2 b hunter2-longer c") == "a *** b *** c"


def test_a_redactor_replaces_a_secret_in_its_json_escaped_form() -> None:
    redactor = Redactor([SECRET])
    assert redactor.text(json.dumps({"msg": SECRET})) == '{"msg": "***"}'


def test_a_redactor_walks_nested_event_data_keys_included() -> None:
    redactor = Redactor(["pw"])
    data = {"res": {"results": [{"msg": "the pw is pw"}, ("pw", 3)]}, "pw": None}
    assert redactor.data(data) == {
        "res": {"results": [{"msg": "the *** is ***"}, ["***", 3]]},
        "***": None,
    }


def test_a_redactor_blanks_vault_blocks_in_text_and_inside_json_strings() -> None:
    vault = "$ANSIBLE_VAULT;1.1;AES256\n6162636465\n3031323334\n"
    redactor = Redactor()
    assert redactor.text(f"value: {vault}end") == "value: ***\nend"
    assert "6162636465" not in redactor.text(json.dumps({"v": vault}))


def test_a_redactor_keeps_only_the_status_of_a_result_hidden_by_no_log() -> None:
    hidden = {"_ansible_no_log": True, "changed": True, "ansible_facts": {"kept": "anything"}}
    assert Redactor().data(hidden) == {
        "_ansible_no_log": True,
        "changed": True,
        "ansible_facts": REDACTED,
    }


def test_a_redactor_ignores_empty_secrets() -> None:
    assert Redactor(["", "x-secret"]).text("plain text, x-secret") == "plain text, ***"


def _everything(events: list[PlaybookEvent], *texts: str) -> str:
    return "\n".join([*(f"{e.host} {e.task} {e.text}" for e in events), *texts])


async def test_a_secret_printed_written_and_failed_on_never_reaches_events_output_or_failure(
    catalog: Catalog, tmp_path: Path
) -> None:
    events: list[PlaybookEvent] = []
    outcome = await run_playbook(
        catalog,
        "leaky",
        ["box"],
        {"api_token": SECRET, "fail": True},
        target_root=tmp_path / "target",
        work_dir=tmp_path / "work",
        on_event=events.append,
    )
    assert outcome.status == "failed"
    assert outcome.failure is not None
    assert outcome.failure.error == f"cannot use token {REDACTED}"
    seen = _everything(events, outcome.output_tail, outcome.failure.model_dump_json())
    assert SECRET not in seen
    assert ESCAPED not in seen
    assert f"the token is {REDACTED}" in seen  # it was printed, and redacted
    # The task really wrote it: redaction is about what the agent reports, not what runs.
    assert (tmp_path / "target" / "box" / "token.txt").read_text() == f"token={SECRET}\n"


async def test_a_secret_in_a_check_mode_diff_is_redacted(catalog: Catalog, tmp_path: Path) -> None:
    events: list[PlaybookEvent] = []
    outcome = await run_playbook(
        catalog,
        "leaky",
        ["box"],
        {"api_token": SECRET},
        target_root=tmp_path / "target",
        work_dir=tmp_path / "work",
        on_event=events.append,
        check=True,
    )
    assert outcome.status == "succeeded"
    assert f"+token={REDACTED}" in outcome.diff
    seen = _everything(events, outcome.output_tail, outcome.diff)
    assert SECRET not in seen
    assert ESCAPED not in seen


async def test_a_secret_default_is_redacted_and_no_file_of_the_run_keeps_it(
    catalog: Catalog, tmp_path: Path
) -> None:
    default = catalog.entries["leaky"].variables["api_token"].default
    events: list[PlaybookEvent] = []
    outcome = await run_playbook(
        catalog,
        "leaky",
        ["box"],
        {},
        target_root=tmp_path / "target",
        work_dir=tmp_path / "work",
        on_event=events.append,
    )
    assert outcome.status == "succeeded"
    assert default not in _everything(events, outcome.output_tail)
    for path in (tmp_path / "work").rglob("*"):
        if path.is_file():
            assert default not in path.read_text(errors="replace"), path
