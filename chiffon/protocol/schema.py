"""JSON Schema of every message kind, written to docs/protocol/ (a test fails on drift)."""

from __future__ import annotations

import json
from pathlib import Path

from chiffon.protocol.codec import MESSAGE_MODELS


def schemas() -> dict[str, str]:
    """File name -> JSON Schema text, one file per message kind (``run.requested.v1.json``)."""
    out: dict[str, str] = {}
    for model in MESSAGE_MODELS:
        schema = model.model_json_schema()
        schema["$id"] = f"chiffon:{model.kind}:v{model.v}"
        schema["title"] = model.kind
        schema["x-chiffon-version"] = model.v
        schema["x-chiffon-durability"] = model.durability
        out[f"{model.kind}.v{model.v}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write(directory: Path) -> list[Path]:
    """Write the schemas into ``directory``, replacing stale files; returns what was written."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = schemas()
    for stale in directory.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    written = []
    for name, text in wanted.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/protocol")
    for path in write(target):
        print(path)
