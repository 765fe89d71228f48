"""Fetch OpenMMLab's kinetics400_tiny when a recipe points at it and it is missing.

Only that one data set is fetched automatically (its folder name identifies it); any
other missing ``data.root`` is an error that says what is expected.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .._errors import DataError

KINETICS_TINY_URL = "https://download.openmmlab.com/mmaction/kinetics400_tiny.zip"
KINETICS_TINY_NAME = "kinetics400_tiny"
EXPECTED_FILES = ("kinetics_tiny_train_video.txt", "kinetics_tiny_val_video.txt", "train", "val")


def _check_layout(root: Path) -> list[str]:
    return [name for name in EXPECTED_FILES if not (root / name).exists()]


def ensure_dataset(root: str | os.PathLike, *, download: bool = True, url: str | None = None,
                   timeout: float = 30.0) -> Path:
    """Return ``root``; download and extract kinetics400_tiny into it if it is missing."""
    root = Path(root)
    if root.is_dir():
        return root
    if root.name != KINETICS_TINY_NAME:
        raise DataError(
            f"data.root {str(root)!r} does not exist. Point it at your data set, e.g. "
            f"--set data.root=/path/to/data (only '{KINETICS_TINY_NAME}' is downloaded automatically)"
        )
    if not download:
        raise DataError(f"data.root {str(root)!r} does not exist and downloading is off; "
                        f"get {KINETICS_TINY_URL} and unzip it so that {root} holds "
                        f"{', '.join(EXPECTED_FILES)}")
    return download_kinetics_tiny(root, url=url or os.environ.get("ZELDA_KINETICS_TINY_URL")
                                  or KINETICS_TINY_URL, timeout=timeout)


def download_kinetics_tiny(root: str | os.PathLike, *, url: str = KINETICS_TINY_URL,
                           timeout: float = 30.0) -> Path:
    """Download the zip (with a progress bar), verify it, extract it to ``root``."""
    from tqdm import tqdm

    root = Path(root)
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
            raise DataError(f"data.root {str(root)!r} does not exist and {url} could not be "
                            f"downloaded ({reason}). {how}") from None
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
