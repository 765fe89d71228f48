"""Reading list files (annotation lists, label maps): text lines and integer labels.

One reader for every list format, so each gets the same rules: UTF-8 with or without a
byte-order mark, a decoding error names its line, and a label is plain ASCII digits
(Python's ``int()`` would also take ``1_0``, ``+3``, ``٣`` or surrounding spaces).
"""

from __future__ import annotations

import re

from .._errors import DataError
from .._userfile import LIST_LIMIT, read_user_text

_LABEL = re.compile(r"-?[0-9]+")


def read_list_lines(path: str, what: str, hint: str = "", *, limit: int = LIST_LIMIT) -> list[str]:
    """The lines of the UTF-8 text file ``path`` (a leading BOM dropped, no line ends).

    DataError, naming ``what`` (e.g. "annotation file"), for a missing file, one that is
    not a regular file (a directory, FIFO, device) or longer than ``limit`` bytes, an
    unreadable one, and for bytes that are not UTF-8 (with their line and column).
    """
    return read_user_text(path, what, limit=limit, error=DataError, hint=hint).splitlines()


def parse_label(text: str) -> int | None:
    """The integer ``text`` spells in ASCII digits (an optional leading ``-``), else None."""
    return int(text) if _LABEL.fullmatch(text) else None
