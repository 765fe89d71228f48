"""Where a model's weights and configuration come from: a local folder or a Hub id.

Reading goes through ``huggingface_hub``, which honours ``HF_HUB_OFFLINE`` and its cache
(``HF_HOME``/``HF_HUB_CACHE``). A local folder never touches the network. When a Hub id is
neither cached nor downloadable, :class:`SourceError` says, in one paragraph, which files
to fetch, from where, and where to put them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zelda_core.api import ZeldaError

CONFIG = "config.json"
PROCESSORS = ("video_preprocessor_config.json", "preprocessor_config.json")
"""Processor configs, in the order looked for (newer ``transformers`` write the first)."""
WEIGHTS = "model.safetensors"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class SourceError(ZeldaError):
    """A checkpoint that cannot be found or read."""


@dataclass(frozen=True)
class Source:
    """A checkpoint: ``folder`` (local) or ``repo`` (+ ``revision``) on the Hub."""

    ref: str
    folder: Path | None = None
    repo: str | None = None
    revision: str | None = None

    @property
    def name(self) -> str:
        return f"{self.ref!r}" + (f" (revision {self.revision})" if self.revision else "")

    def load_kwargs(self) -> dict[str, Any]:
        """``from_pretrained`` arguments: a folder is read as it is, never looked up."""
        if self.folder is not None:
            return {"pretrained_model_name_or_path": str(self.folder), "local_files_only": True}
        return {"pretrained_model_name_or_path": self.repo, "revision": self.revision}


def resolve(checkpoint: str, revision: str | None = None) -> Source:
    """The checkpoint a recipe's ``checkpoint``/``revision`` name (nothing is read yet)."""
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ValueError(f"revision = {revision!r} applies to a Hub id, but checkpoint = "
                             f"{checkpoint!r} is a local folder: leave revision out")
        if not (path / CONFIG).is_file():
            raise SourceError(f"checkpoint = {checkpoint!r}: the folder {path.resolve()} has no "
                              f"{CONFIG}; it is not a transformers model folder (save_pretrained "
                              "or zelda export --format hf writes one)")
        return Source(checkpoint, folder=path.resolve())
    if path.exists() or not _HUB_ID.match(checkpoint) or checkpoint.startswith((".", "~", "/")):
        raise SourceError(f"checkpoint = {checkpoint!r}: no such folder (relative paths are "
                          f"relative to {Path.cwd()}) and not a Hugging Face Hub id "
                          "('organisation/name')")
    return Source(checkpoint, repo=checkpoint, revision=revision)


def offline_message(source: Source, reason: str) -> str:
    """The paragraph for a Hub checkpoint that is neither cached nor downloadable."""
    from huggingface_hub import constants

    rev = f" --revision {source.revision}" if source.revision else ""
    why = "HF_HUB_OFFLINE is set" if _offline() else f"the Hub could not be reached ({reason})"
    return (
        f"checkpoint = {source.name} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
        f"and cannot be downloaded: {why}. It needs {CONFIG}, {WEIGHTS} and "
        f"{PROCESSORS[1]} from https://huggingface.co/{source.repo}. On a machine with "
        f"network run `hf download {source.repo}{rev}` and copy its cache folder "
        f"models--{source.repo.replace('/', '--')} into {constants.HF_HUB_CACHE} here (or set "
        f"HF_HOME), or run `hf download {source.repo}{rev} --local-dir DIR` and set "
        "checkpoint = \"DIR\" (a local folder never touches the network).")


def read_json(source: Source, filename: str) -> dict[str, Any] | None:
    """``filename`` of the checkpoint as a dict; None when the checkpoint has no such file.

    A Hub file comes from the cache, else is downloaded (unless offline); a Hub checkpoint
    that cannot be reached at all is a :class:`SourceError` with :func:`offline_message`."""
    if source.folder is not None:
        path = source.folder / filename
        if not path.is_file():
            return None
    else:
        path = _hub_file(source, filename)
        if path is None:
            return None
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"checkpoint = {source.name}: {path} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SourceError(f"checkpoint = {source.name}: {path} is not a JSON object")
    return value


_HUB_FILES: dict[tuple[Source, str], Path | None | SourceError] = {}
"""Hub look-ups already made in this process (a recipe check asks several times; without
network each look-up would retry for about 20 s)."""


def _hub_file(source: Source, filename: str) -> Path | None:
    key = (source, filename)
    if key not in _HUB_FILES:
        try:
            _HUB_FILES[key] = _fetch(source, filename)
        except SourceError as exc:
            _HUB_FILES[key] = exc
    found = _HUB_FILES[key]
    if isinstance(found, SourceError):
        raise SourceError(str(found))
    return found


def _fetch(source: Source, filename: str) -> Path | None:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError

    cached = try_to_load_from_cache(source.repo, filename, revision=source.revision)
    if isinstance(cached, str):
        return Path(cached)
    if cached is not None:  # the cache knows the repository has no such file
        return None
    if filename != CONFIG and _cached(source, CONFIG) and _offline():
        return None  # the checkpoint is cached; this optional file is not part of it
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)  # its retry lines; the error below says what failed
    try:
        return Path(hf_hub_download(source.repo, filename, revision=source.revision))
    except RemoteEntryNotFoundError:  # the repository exists but has no such file
        return None
    except LocalEntryNotFoundError as exc:  # offline, or the Hub unreachable
        if filename != CONFIG and _cached(source, CONFIG):
            return None
        raise SourceError(offline_message(source, first_line(exc))) from None
    except OSError as exc:  # RepositoryNotFound, RevisionNotFound, HTTP errors
        raise SourceError(f"checkpoint = {source.name}: {filename} cannot be read from the "
                          f"Hub ({type(exc).__name__}: {first_line(exc)})") from None
    finally:
        hub_log.setLevel(level)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _cached(source: Source, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(source.repo, filename, revision=source.revision), str)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
