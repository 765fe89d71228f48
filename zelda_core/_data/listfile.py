"""Reading list files (annotation lists, label maps): text lines and integer labels.

One reader for every list format, so each gets the same rules: UTF-8 with or without a
byte-order mark, a decoding error names its line, and a label is plain ASCII digits
(Python's ``int()`` would also take ``1_0``, ``+3``, ``٣`` or surrounding spaces).
"""

from __future__ import annotations

import re

from .._errors import DataError

_LABEL = re.compile(r"-?[0-9]+")


def read_list_lines(path: str, what: str, hint: str = "") -> list[str]:
    """The lines of the UTF-8 text file ``path`` (a leading BOM dropped, no line ends).

    DataError, naming ``what`` (e.g. "annotation file"), for a missing or unreadable file
    and for bytes that are not UTF-8 (with their line and column).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{what} not found: {path}" + (f" ({hint})" if hint else "")) from None
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + bom
        line = raw.count(b"\n", 0, start) + 1
        column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
        raise DataError(f"{path}:{line}: {what} is not UTF-8 text (byte "
                        f"{raw[start:start + 1]!r} at column {column}); save it as UTF-8") from None
    return text.splitlines()


def parse_label(text: str) -> int | None:
    """The integer ``text`` spells in ASCII digits (an optional leading ``-``), else None."""
    return int(text) if _LABEL.fullmatch(text) else None
