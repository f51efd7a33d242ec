"""docs/catalog.md is the format's reference: every field of the model is in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from chiffon.catalog import CatalogEntry, Resources, Variable
from chiffon.catalog.checking import TOP_LEVEL

DOC = Path(__file__).parent.parent.parent / "docs" / "catalog.md"


def _section_fields(heading: str) -> set[str]:
    text = DOC.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else None]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


@pytest.mark.parametrize(
    ("heading", "model"),
    [("An entry", CatalogEntry), ("A variable", Variable), ("Resources", Resources)],
)
def test_every_field_of_the_model_is_documented_and_nothing_else(
    heading: str, model: type[BaseModel]
) -> None:
    assert _section_fields(heading) == set(model.model_fields)


def test_every_key_of_the_file_is_documented() -> None:
    assert _section_fields("The file") == set(TOP_LEVEL)
