"""Secret redaction, applied on the agent before anything it produces is shown or stored.

A ``Redactor`` knows the values of the step's secret variables (the catalog entry's variables
marked ``secret``) and replaces every occurrence with ``***`` — in text, and in nested event
data (dict keys and values, lists). It also blanks Ansible Vault blocks (``$ANSIBLE_VAULT;…``)
and keeps what Ansible censored for ``no_log`` censored: a result marked ``_ansible_no_log``
keeps only its status fields.

Events, output, failures and diffs all pass through one before they leave ``run_playbook``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from chiffon.catalog import CatalogEntry

REDACTED = "***"

# A vault block as Ansible writes it (header line, then hex lines), as it appears in plain text
# and inside JSON strings, where its newlines are the two characters "\n".
_VAULT = re.compile(r"\$ANSIBLE_VAULT;[^\s\"'\\]*(?:(?:\\n|\\r|\s)+[0-9a-fA-F]+(?![0-9A-Za-z]))*")

# What a result hidden by ``no_log`` may still show: whether it changed or failed.
_NO_LOG_KEEP = frozenset(
    {"changed", "failed", "skipped", "unreachable", "censored", "_ansible_no_log"}
)


class Redactor:
    """Replaces secret values, vault blocks and ``no_log`` results with ``***``.

    Every non-empty secret is redacted, however short: a leaked secret costs more than an
    over-redacted line. A secret's JSON-escaped form (quotes and backslashes escaped, as it
    appears inside a JSON result) is redacted too.
    """

    __slots__ = ("_pattern",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms.add(secret)
            forms.add(json.dumps(secret)[1:-1])
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        # Longest first, so that a secret containing another is replaced whole.
        alternatives = [re.escape(s) for s in sorted(forms, key=len, reverse=True)]
        alternatives.append(_VAULT.pattern)
        self._pattern = re.compile("|".join(alternatives))

    @classmethod
    def for_entry(cls, entry: CatalogEntry, variables: Mapping[str, Any]) -> Redactor:
        """A redactor for one step: the values the step gives the entry's secret variables
        (their defaults when it gives none); list values contribute each element."""
        secrets: list[str] = []
        for name, declared in entry.variables.items():
            if not declared.secret:
                continue
            value = variables.get(name, declared.default)
            values = value if isinstance(value, list | tuple) else [value]
            secrets.extend(str(v) for v in values if v is not None and v != "")
        return cls(secrets)

    def text(self, text: str) -> str:
        """``text`` with every secret and vault block replaced by ``***``."""
        return self._pattern.sub(REDACTED, text)

    def data(self, value: Any) -> Any:
        """A copy of ``value`` (dicts, lists, tuples, strings, scalars, nested) with every
        string redacted, and every dict marked ``_ansible_no_log`` reduced to its status."""
        if isinstance(value, str):
            return self._pattern.sub(REDACTED, value)
        if isinstance(value, Mapping):
            if value.get("_ansible_no_log") is True:
                return {
                    k: (v if k in _NO_LOG_KEEP else REDACTED)
                    for k, v in value.items()
                    if isinstance(k, str)
                }
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value
