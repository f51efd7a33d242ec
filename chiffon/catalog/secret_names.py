"""What a secret looks like by its name, and which written values only stand in for one.

Shared by the catalog's importer (a role default named ``*_password`` becomes a variable
marked ``secret: true`` with no default) and the playbook checks (``plaintext-secret``).
"""

from __future__ import annotations

import re

_NAME = re.compile(
    r"(?i)(?:^|[_.-])(?:password|passwd|passphrase|token|secret|api_?key|apikey|private_?key"
    r"|access_?key|secret_?key|auth_?key|client_?secret|credentials?)(?:$|[_.-])"
)
# A name ending like these holds something about a secret (where it is, how long), not it.
_ABOUT = re.compile(
    r"(?i)[_.-](?:file|path|dir|url|uri|length|len|ttl|expiry|expires|name|user|username|id"
    r"|env|var|min|max|size|type|policy|enabled|required|command|mode)$"
)
# Values people write where the real secret goes; compared without case, spaces or
# punctuation ("Change Me!", "<your-token>", "CHANGE_ME").
_PLACEHOLDERS = frozenset((
    "changeme", "changethis", "changeit", "pleasechange", "pleasechangeme", "replaceme",
    "secret", "password", "passw0rd", "pass", "token", "apikey", "yourpassword", "yourtoken",
    "yourapikey", "mypassword", "supersecret", "supersecretpassword", "xxx", "xxxx", "xxxxx",
    "xxxxxx", "xxxxxxxx", "todo", "fixme", "tbd", "none", "null", "example", "default",
    "placeholder", "insertpasswordhere", "setme", "updateme", "admin", "12345678", "123456",
))  # fmt: skip
_BRACKETED = re.compile(r"^\s*(?:<[^<>]+>|\[[^\[\]]+\]|%[A-Z_]+%|\$\{?[A-Z_]+\}?)\s*$")
_SQUASH = re.compile(r"[\W_]+")


def secret_name(name: str) -> bool:
    """Whether a variable or argument name says it holds a secret."""
    if name.startswith("update_") or "expire" in name:
        return False  # the user module's update_password, password_expire_max…
    return bool(_NAME.search(name)) and not _ABOUT.search(name)


def placeholder(value: object) -> bool:
    """Whether ``value`` only stands in for a secret someone still has to set
    (``changeme``, ``<your-token>``, ``xxxx``): not a secret, but not usable either."""
    if not isinstance(value, str):
        return False
    if _BRACKETED.match(value):
        return True
    squashed = _SQUASH.sub("", value).lower()
    return squashed in _PLACEHOLDERS or squashed.startswith(("changeme", "replaceme"))
