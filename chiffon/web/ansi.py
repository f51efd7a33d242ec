"""ANSI colours of Ansible's output as HTML: escaped text in ``<span>``s with classes.

Only SGR sequences (``ESC [ … m``) carry meaning here: bold and the sixteen foreground and
background colours, which is what ``ansible-playbook`` prints. Every other escape sequence is
dropped, so a cursor movement or a title change in a task's output cannot reach the page.
Classes, not inline styles: the palette lives in the stylesheet, and the page's
Content-Security-Policy needs no ``style-src 'unsafe-inline'``.
"""

from __future__ import annotations

import html
import re

_ESCAPE = re.compile(
    r"\x1b\[([0-9;?]*)([@-~])"  # CSI: parameters, final byte (``m``: SGR)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (a window title, a link), to BEL or ST
    r"|\x1b[@-Z\\-_]"  # any other two-byte escape
    r"|[\x00-\x08\x0b-\x1f\x7f]"  # C0 controls but tab and newline
)


def to_html(text: str) -> str:
    """``text`` with its SGR colours as spans and everything else HTML-escaped."""
    out: list[str] = []
    bold = False
    foreground: int | None = None
    background: int | None = None
    position = 0
    for match in _ESCAPE.finditer(text):
        out.append(_span(text[position : match.start()], bold, foreground, background))
        position = match.end()
        if match.group(2) != "m":
            continue
        codes = [int(c) if c.isdigit() else 0 for c in match.group(1).split(";")]
        for code in codes:
            if code == 0:
                bold, foreground, background = False, None, None
            elif code == 1:
                bold = True
            elif code == 22:
                bold = False
            elif 30 <= code <= 37 or 90 <= code <= 97:
                foreground = code
            elif code == 39:
                foreground = None
            elif 40 <= code <= 47 or 100 <= code <= 107:
                background = code
            elif code == 49:
                background = None
    out.append(_span(text[position:], bold, foreground, background))
    return "".join(out)


def plain(text: str) -> str:
    """``text`` without any escape sequence (for the raw download and the failed-only test)."""
    return _ESCAPE.sub("", text)


def _span(text: str, bold: bool, foreground: int | None, background: int | None) -> str:
    if not text:
        return ""
    escaped = html.escape(text, quote=False)
    classes = [
        name
        for name, on in (
            ("b", bold),
            (f"fg{foreground}", foreground is not None),
            (f"bg{background}", background is not None),
        )
        if on
    ]
    if not classes:
        return escaped
    return f'<span class="{" ".join(classes)}">{escaped}</span>'
