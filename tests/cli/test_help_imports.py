"""``chiffon --help`` does not import the web stack (or any other heavy library): only
``chiffon serve`` does."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "fastapi", "starlette", "uvicorn", "jinja2", "prometheus_client", "argon2", "httpx",
    "multipart", "chiffon.api", "chiffon.web", "sqlalchemy", "asyncpg", "litellm", "ansible",
)  # fmt: skip

PROBE = """
import json, sys
from chiffon.cli import app
try:
    app(["--help"], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy_roots}
                        or any(m == h or m.startswith(h + ".") for h in {heavy}))))
"""


def test_help_imports_no_web_module() -> None:
    roots = {name.split(".")[0] for name in HEAVY if not name.startswith("chiffon")}
    code = PROBE.format(heavy_roots=roots, heavy=[h for h in HEAVY if h.startswith("chiffon")])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == []
