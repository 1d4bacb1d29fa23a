"""The job file's reference and ``rank-citations init``'s template, written from :mod:`ranker.config.sections`.

``python -m ranker.config.reference`` prints the reference block of ``docs/job-file.md``;
``--write docs/job-file.md`` puts it there (a test keeps the file equal to what this writes).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from .sections import SECTIONS, choices_of

#: The comment column of the reference block and the template.
COMMENT_AT = 34
BEGIN, END = "<!-- job-file reference: written by python -m ranker.config.reference -->", "<!-- end -->"


def toml_value(value: Any) -> str:
    """``value`` as TOML text (strings, booleans, numbers, lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return toml_string(value)
    return json.dumps(value, ensure_ascii=False)


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string on one line: quotes and backslashes escaped, and every
    character that is not printable (control characters, line and paragraph separators) written
    as an escape, so the result never spans lines and reads back through ``tomllib`` unchanged."""
    return '"' + "".join(_SHORT_ESCAPES.get(c) or (c if c.isprintable() else
                                                   f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
                         for c in text) + '"'


def toml_key(name: str) -> str:
    """``name`` as a TOML key: bare when it is one (ASCII letters, digits, ``_`` and ``-``), else quoted."""
    if name and all(c.isascii() and (c.isalnum() or c in "_-") for c in name):
        return name
    return toml_string(name)


def _line(text: str, comment: str) -> str:
    if not comment:
        return text
    return f"{text.ljust(COMMENT_AT - 1)} # {comment}" if len(text) < COMMENT_AT - 1 else f"{text}  # {comment}"


def _comment(section: str, f: dataclasses.Field) -> str:
    choices = choices_of(section, f.name)
    doc = f.metadata.get("doc", "")
    if choices:
        return " | ".join(choices) + (f"; {doc}" if doc else "")
    return doc


def _heading(cls: type) -> str:
    """The first line of a section's docstring, as a comment (``optional: ...``)."""
    line = (cls.__doc__ or "").strip().splitlines()[0].rstrip(".")
    return line[:1].lower() + line[1:]


def _fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "doc" in f.metadata]


def reference_block() -> str:
    """Every section and key with its default, choices and meaning: the block of ``docs/job-file.md``."""
    lines: list[str] = []
    for section, (cls, _) in SECTIONS.items():
        lines += ["", _line(f"[{section}]", _heading(cls))]
        for f in _fields(cls):
            shown = f.metadata.get("shown") or toml_value(f.default)
            lines.append(_line(f"{f.name} = {shown}", _comment(section, f)))
    return "\n".join(lines[1:]) + "\n"


_HEADER = """\
# A rank-citations job. Run it with:  rank-citations --config job.toml
# Check it first (every input and id, nothing written):  rank-citations validate --config job.toml
# Any key can be overridden on the command line:  --set rank.alpha=0.5
# Relative paths are read from this file's folder. Every key: docs/job-file.md in the repository.
"""


def job_template() -> str:
    """The commented job file ``rank-citations init`` writes: the keys a first job sets, the optional
    sections commented out (each key's default and meaning from :mod:`ranker.config.sections`)."""
    parts = [_HEADER]
    for section, (cls, optional) in SECTIONS.items():
        shown = [f for f in _fields(cls) if f.metadata.get("init")]
        if not shown:
            continue
        head = _line(("# " if optional else "") + f"[{section}]", _heading(cls) if optional else "")
        lines = [head]
        for f in shown:
            example = f.metadata.get("example")
            value = f.metadata.get("shown") or toml_value(f.default if example is None else example)
            off = optional or f.metadata["init"] == "off"
            lines.append(_line(("# " if off else "") + f"{f.name} = {value}", _comment(section, f)))
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def write_reference(path: Path) -> bool:
    """Put :func:`reference_block` between the markers of ``path``; True when the file changed."""
    text = path.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n```toml\n" + reference_block() + "```\n" + text[end:]
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    if sys.argv[1:2] == ["--write"]:
        print("changed" if write_reference(Path(sys.argv[2])) else "unchanged")
    else:
        sys.stdout.write(reference_block())
