"""The precision of ``chiffon playbooks check`` on the seeded repository: each rule gives
the true findings and no false or repeated one (≥ 90 % precision is the bar; the seeded
cases are each met exactly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chiffon.playbooks.findings import Finding
from chiffon.playbooks.lint import LintFinding, collapsed
from tests.repos.precision import RULES, TRUE, score, seeded_findings, write_seeded


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    return seeded_findings(write_seeded(tmp_path_factory.mktemp("precision") / "seeded"))


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_is_at_least_90_percent_precise_and_misses_no_seeded_case(
    findings: list[Finding], rule: str
) -> None:
    [row] = [r for r in score(findings) if r.rule == rule]

    assert row.precision >= 0.9, row
    assert row.missed == 0, row


def test_a_finding_in_a_file_several_entries_read_is_given_once_for_the_file(
    findings: list[Finding],
) -> None:
    shared = [f for f in findings if f.path == "roles/common/tasks/main.yml"]

    # common is a meta dependency of web, db and proxy: one finding, for the file.
    assert [(f.rule, f.entry) for f in shared] == [("command-without-guard", None)]
    declared = [f for f in findings if f.path == "catalog.yml" and f.rule in RULES]
    assert [(f.rule, f.entry, f.key) for f in declared] == [
        ("catalog-metadata[unused-variable]", "worker", "worker_threads")
    ]


def test_a_placeholder_is_a_secret_to_set_not_a_secret_in_plain_text(
    findings: list[Finding],
) -> None:
    placeholders = [f for f in findings if f.rule == "placeholder-secret"]

    assert [f.message for f in placeholders] == [
        "\"web_admin_password\" is the placeholder 'changeme': set a real secret",
        "\"API_TOKEN\" is the placeholder 'changeme': set a real secret",
    ]
    assert all("changeme" not in f.message for f in findings if f.rule == "plaintext-secret")


def test_images_made_of_a_name_and_a_tag_variable_are_reported_where_the_tag_is_set(
    findings: list[Finding], tmp_path: Path
) -> None:
    [nginx] = [f for f in findings if f.rule == "image-unpinned" and f.key == "nginx"]
    root = write_seeded(tmp_path / "seeded")

    assert nginx.message == "image nginx:latest is on latest"
    assert (root / nginx.path).read_text().splitlines()[nginx.line - 1] == (
        "web_image_version: latest"
    )


def test_a_missing_collection_is_one_finding_from_ansible_lint_too() -> None:
    unresolved = [
        LintFinding(
            rule="syntax-check[unknown-module]",
            path=f"roles/r{n}/tasks/main.yml",
            line=3,
            message=f"couldn't resolve module/action 'community.docker.docker_{kind}'. This "
            "often indicates a misspelling, missing collection, or incorrect module path.",
            severity="error",
        )
        for n, kind in enumerate(["container", "image", "container"])
    ]
    other = LintFinding("name[missing]", "site.yml", 1, "All tasks should be named.", "warning")

    result = collapsed([unresolved[0], other, *unresolved[1:]])

    assert [f.rule for f in result] == ["syntax-check[unknown-module]", "name[missing]"]
    assert result[0].path == "roles/r0/tasks/main.yml"
    assert result[0].message.startswith("collection community.docker is not installed: ")
    assert result[0].message.endswith("(and 2 more places)")


def test_the_true_cases_name_only_rules_of_the_table() -> None:
    assert {rule for rule, _, _ in TRUE} == set(RULES)
