"""Small run outputs (JSON reports) written atomically: a reader never sees half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .log import json_safe


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """``obj`` as indented, strict JSON at ``path`` (non-finite floats as text), through a
    temporary file and ``os.replace`` (``_outputs.write_output``)."""
    from .._outputs import write_output

    text = json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n"
    return write_output(path, text, fsync=False)
