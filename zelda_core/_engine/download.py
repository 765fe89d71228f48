"""Fetch OpenMMLab's kinetics400_tiny when a recipe points at it and it is missing.

Only that one data set is fetched automatically (its folder name identifies it); any
other missing ``data.root`` is an error that says what is expected.

When the download is impossible (no network), the run uses the small real clip set
embedded in the package (``zelda_core/_embedded/kinetics400_tiny``: 30 train / 10 val
Kinetics clips in the same layout, 160x128, 40 frames; built by
benchmarks/make_embedded_kinetics.py) and says so. ``ZELDA_EMBEDDED_DATA=0`` makes a
failed download an error instead.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .._errors import DataError
from .._userfile import path_kind
from .workdir import removed_if_left_empty

KINETICS_TINY_URL = "https://download.openmmlab.com/mmaction/kinetics400_tiny.zip"
KINETICS_TINY_NAME = "kinetics400_tiny"
EXPECTED_FILES = ("kinetics_tiny_train_video.txt", "kinetics_tiny_val_video.txt", "train", "val")
EMBEDDED = Path(__file__).resolve().parents[1] / "_embedded" / KINETICS_TINY_NAME
"""The clip set shipped in the package, used when kinetics400_tiny cannot be downloaded."""
EMBEDDED_ENV = "ZELDA_EMBEDDED_DATA"
"""``0``: a kinetics400_tiny that cannot be downloaded is an error, never the embedded set."""


def embedded_fallback(root: str | os.PathLike) -> Path | None:
    """The embedded clip set that stands in for a missing ``root``, or None (``root``
    exists, is not kinetics400_tiny, or ZELDA_EMBEDDED_DATA=0)."""
    root = Path(root)
    if root.is_dir() or root.name != KINETICS_TINY_NAME or not EMBEDDED.is_dir():
        return None
    return None if os.environ.get(EMBEDDED_ENV, "1") == "0" else EMBEDDED


def _check_layout(root: Path) -> list[str]:
    return [name for name in EXPECTED_FILES if not (root / name).exists()]


def ensure_dataset(root: str | os.PathLike, *, download: bool = True, url: str | None = None,
                   timeout: float = 30.0) -> Path:
    """The data root to use: ``root``, after downloading kinetics400_tiny into it if it is
    missing; the embedded clip set when that download fails (see :func:`embedded_fallback`).
    A URL (``s3://``, ``https://``...) is returned as it is: the dataset reads it."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", str(root)):
        return root  # type: ignore[return-value]
    root = Path(root)
    if root.is_dir():
        return root
    kind = path_kind(root)
    if not kind.startswith("missing"):  # never download over a file, FIFO or device
        raise DataError(f"data.root {str(root)!r} is {kind}, not a folder; point it at the "
                        "folder of your data set")
    if root.name != KINETICS_TINY_NAME:
        raise DataError(
            f"data.root {str(root)!r} does not exist. Point it at your data set, e.g. "
            f"--set data.root=/path/to/data (only '{KINETICS_TINY_NAME}' is downloaded automatically)"
        )
    if not download:
        raise DataError(f"data.root {str(root)!r} does not exist and downloading is off; "
                        f"get {KINETICS_TINY_URL} and unzip it so that {root} holds "
                        f"{', '.join(EXPECTED_FILES)}")
    url = url or os.environ.get("ZELDA_KINETICS_TINY_URL") or KINETICS_TINY_URL
    try:
        return download_kinetics_tiny(root, url=url, timeout=timeout)
    except DataError as exc:
        fallback = embedded_fallback(root)
        if fallback is None:
            raise
        why = getattr(exc, "reason", None) or str(exc).split(". ")[0]
        print(f"zelda: {KINETICS_TINY_NAME} could not be downloaded ({why}); training on the "
              f"small clip set embedded in zelda ({fallback}) instead. {EMBEDDED_ENV}=0 makes "
              "this an error.", file=sys.stderr)
        return fallback


def download_kinetics_tiny(root: str | os.PathLike, *, url: str = KINETICS_TINY_URL,
                           timeout: float = 30.0) -> Path:
    """Download the zip (with a progress bar), verify it, extract it to ``root``. A failure
    leaves no empty parent folder behind."""
    root = Path(root)
    with removed_if_left_empty(root.parent):
        return _download(root, url, timeout)


def _download(root: Path, url: str, timeout: float) -> Path:
    from tqdm import tqdm

    root.parent.mkdir(parents=True, exist_ok=True)
    how = (f"Download {url} yourself (e.g. with a browser or wget), unzip it so that "
           f"{root} holds {', '.join(EXPECTED_FILES)}, or set data.root to a copy "
           f"(--set data.root=PATH)")
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".zelda-download-") as tmpdir:
        zpath = Path(tmpdir) / "data.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(zpath, "wb") as f:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, disable=None,
                          desc=f"downloading {Path(url).name}", file=sys.stderr) as bar:
                    while chunk := resp.read(1 << 16):
                        f.write(chunk)
                        bar.update(len(chunk))
            if total is not None and zpath.stat().st_size != total:
                raise DataError(f"the download of {url} stopped early "
                                f"({zpath.stat().st_size} of {total} bytes). {how}")
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            error = DataError(f"data.root {str(root)!r} does not exist and {url} could not be "
                              f"downloaded ({reason}). {how}")
            error.reason = str(reason)
            raise error from None
        try:
            with zipfile.ZipFile(zpath) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise DataError(f"the archive from {url} is corrupt (bad CRC in {bad}). {how}")
                names = zf.namelist()
                for name in names:  # no absolute paths or '..' escapes
                    if name.startswith("/") or ".." in Path(name).parts:
                        raise DataError(f"the archive from {url} has an unsafe path {name!r}")
                extract = Path(tmpdir) / "x"
                zf.extractall(extract)
        except zipfile.BadZipFile:
            raise DataError(f"{url} did not give a zip archive. {how}") from None
        # the zip holds kinetics400_tiny/...; accept a flat archive too
        inner = extract / KINETICS_TINY_NAME
        src = inner if inner.is_dir() else extract
        missing = _check_layout(src)
        if missing:
            raise DataError(f"the archive from {url} lacks {', '.join(missing)}. {how}")
        if root.exists():  # another process finished first
            return root
        shutil.move(str(src), str(root))
    print(f"data set ready in {root}", file=sys.stderr)
    return root
