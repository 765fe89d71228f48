"""``zelda data prepare``: a verified, random-access copy of every video a recipe uses.

Works on any dataset through the :class:`zelda_core.api.Dataset` contract: ``records``
(the videos), ``root`` (what paths are relative to), ``data_files`` (annotation files and
label maps, copied) and ``sources`` ("annotation_file:line" per record, so the line of a
video that failed is set aside instead of copied).

Kill-safe and resumable:

- each copy is written to a hidden temporary name and renamed once verified
  (``zelda_pyav.encode``);
- each finished video appends one line to this shard's journal
  ``OUT/.zelda-prepare/journal-I-of-N.jsonl`` (a torn last line is ignored);
- a re-run skips videos whose journal entry matches the source's size and mtime, the
  settings, and an output file of the recorded size; everything else is redone;
- at the end of every run (under a file lock, so shards finishing together agree) all
  journals are merged into ``OUT/prepare.json``; when every video of every shard is
  accounted for, the annotation files and label maps are written (failed videos' lines
  set aside in ``OUT/prepare_failed.txt``) and ``complete`` becomes true.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zelda_core.api import DataError, ZeldaError, check_output_folder, write_output

from .encode import PROFILES, VerifyError, part_path, prepare_video, profile_settings
from .pack import (
    SHARDS_DIR,
    SHARDS_MANIFEST,
    journal_entries,
    open_journal,
    pack_share,
    packed_videos,
    read_pack_journals,
    write_manifest,
)

STATE = ".zelda-prepare"
MANIFEST = "prepare.json"
FAILED = "prepare_failed.txt"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Job:
    """One video to copy: its path relative to the data root, and where it is listed."""

    rel: str
    src: str
    where: tuple[str, ...]
    """``sources`` entries of the records that name it ("file:line", or a plain name)."""


@dataclass
class Plan:
    root: str
    jobs: list[Job]
    data_files: list[str]
    """Paths relative to ``root``."""
    splits: list[str]
    records: dict[str, list[tuple[str, Any, str]]] = field(default_factory=dict)
    """Per split, its records in order as (rel, label, "file:line")."""
    classes: dict[str, list[str]] = field(default_factory=dict)


def _relative(path: str, root: str, what: str) -> str:
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir:
        raise DataError(f"{what} {path} lies outside data.root {root}: a copy could not keep "
                        f"its relative path (move it under the root or change data.root)")
    return rel


def plan(datasets: dict[str, Any]) -> Plan:
    """Every video and data file of ``datasets`` (split name -> Dataset), relative to the
    one data root they share, de-duplicated and sorted (the order shards split)."""
    roots = {os.path.abspath(getattr(ds, "root", ".")) for ds in datasets.values()}
    if len(roots) != 1:
        raise DataError(f"the splits use different roots ({', '.join(sorted(roots))}); "
                        f"prepare one root at a time (--splits)")
    root = roots.pop()
    found: dict[str, tuple[str, list[str]]] = {}
    files: set[str] = set()
    records: dict[str, list[tuple[str, Any, str]]] = {}
    for split, ds in datasets.items():
        sources = list(getattr(ds, "sources", []) or [])
        records[split] = []
        for n, (path, label) in enumerate(ds.records):
            rel = _relative(path, root, f"data.{split}: video")
            where = sources[n] if n < len(sources) else rel
            found.setdefault(rel, (path, []))[1].append(where)
            records[split].append((rel, label.tolist() if hasattr(label, "tolist") else label,
                                   short_source(where, root)))
        for f in getattr(ds, "data_files", []) or []:
            files.add(_relative(f, root, f"data.{split}: data file"))
    jobs = [Job(rel, src, tuple(where)) for rel, (src, where) in sorted(found.items())]
    return Plan(root=root, jobs=jobs, data_files=sorted(files), splits=list(datasets),
                records=records,
                classes={s: list(getattr(ds, "classes", []) or []) for s, ds in datasets.items()})


def short_source(where: str, root: str) -> str:
    """"file:line" with the file relative to the data root when it lies inside it (a
    shard manifest names no machine's folders)."""
    file, sep, line = where.rpartition(":")
    if not sep or not line.isdigit():
        return where
    rel = os.path.relpath(os.path.abspath(file), root)
    return where if rel.startswith(os.pardir) else f"{rel}:{line}"


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"I/N"`` (I from 0 to N-1) -> (I, N); None -> (0, 1)."""
    if not text:
        return 0, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ZeldaError(f"--shard {text!r}: expected I/N, e.g. --shard 0/4 (I from 0 to N-1)") from None
    if n < 1 or not 0 <= i < n:
        raise ZeldaError(f"--shard {text!r}: I must be in [0, N) and N at least 1, e.g. "
                         f"--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-(N-1)")
    return i, n


def shard_jobs(jobs: list[Job], shard: tuple[int, int]) -> list[Job]:
    """Shard I of N: every N-th job of the sorted list, starting at I (deterministic)."""
    i, n = shard
    return jobs[i::n]


# -- the journal ---------------------------------------------------------------------------

def _state_dir(out: str) -> str:
    return os.path.join(out, STATE)


def _journal_path(out: str, shard: tuple[int, int]) -> str:
    return os.path.join(_state_dir(out), f"journal-{shard[0]}-of-{shard[1]}.jsonl")


def read_journals(out: str) -> dict[str, dict[str, Any]]:
    """The latest entry per video over every shard's journal (torn lines ignored)."""
    entries: dict[str, dict[str, Any]] = {}
    for e in journal_entries(_state_dir(out), "journal-"):
        if "rel" not in e:
            continue
        old = entries.get(e["rel"])
        if old is None or e.get("time", 0) >= old.get("time", 0):
            entries[e["rel"]] = e
    return entries


def _source_stat(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def videos_dir(out: str, fmt: str) -> str:
    """Where the verified copies go: OUT itself, or (for shards) a staging folder whose
    files are removed once packed."""
    return out if fmt == "files" else os.path.join(_state_dir(out), "files")


def is_current(entry: dict[str, Any] | None, job: Job, out: str, settings_key: str,
               packed: dict[str, int] | None = None) -> bool:
    """The journal entry still describes this job: same source, same settings, and (for
    a done video) its output file is there with the recorded size (``out`` is the
    videos' folder), or it sits in a packed shard (``packed``: rel -> size)."""
    if not entry or entry.get("settings") != settings_key:
        return False
    try:
        if [entry.get("src_size"), entry.get("src_mtime_ns")] != list(_source_stat(job.src)):
            return False
    except OSError:
        return False
    if entry.get("status") == "done":
        if packed and packed.get(job.rel) == entry.get("out_size"):
            return True
        try:
            return os.path.getsize(os.path.join(out, job.rel)) == entry.get("out_size")
        except OSError:
            return False
    return entry.get("status") == "failed"


# -- one video (runs in a worker process) ---------------------------------------------------

def _work(args: tuple[Job, str, str, int | None]) -> dict[str, Any]:
    """``out``: the videos' folder (see :func:`videos_dir`)."""
    job, out, profile_name, short_side = args
    os.environ["ZELDA_INDEX_CACHE"] = "0"  # sources are read once; copies get new names
    from zelda_core.api import DecodeError

    t0 = time.perf_counter()
    c0 = time.process_time()
    entry: dict[str, Any] = {"rel": job.rel}
    try:
        entry["src_size"], entry["src_mtime_ns"] = _source_stat(job.src)
        result = prepare_video(job.src, os.path.join(out, job.rel), PROFILES[profile_name],
                               short_side)
        entry.update(status="done", **result)
    except DecodeError as e:
        entry.update(status="failed", reason=f"source: {e.reason}")
    except VerifyError as e:
        entry.update(status="failed", reason=f"copy: {e}")
    except OSError as e:  # the machine's (a full disk), not the video's: retried next run
        entry.update(status="error", reason=f"{e.strerror or e}: {e.filename or job.rel}")
    entry["seconds"] = round(time.perf_counter() - t0, 3)
    entry["cpu_seconds"] = round(time.process_time() - c0, 3)
    return entry


# -- the run ---------------------------------------------------------------------------------

@dataclass
class Options:
    out: str
    profile: str = "random-access"
    short_side: int | None = 256
    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    log_every: int = 0
    """Videos per progress line when stderr is not a terminal (0: about 20 lines)."""
    format: str = "files"
    """"files" (a copy of the tree) or "shards" (WebDataset tars, see ``pack``)."""
    shard_bytes: int = 256 * 10**6


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_prepare(p: Plan, opts: Options, *, recipe: str = "",
                echo: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Prepare this shard's videos, merge every shard's journal, return the manifest.

    Progress goes to ``echo`` (stderr), so stdout holds only the result."""
    # real paths: no spelling (a symlink, "..", a bind of the root) writes into the source
    check_output_folder(opts.out, inputs=[("the recipe", recipe or None)],
                        input_folders=[("data.root", p.root)])
    out = os.path.abspath(opts.out)
    if opts.profile not in PROFILES:
        raise ZeldaError(f"--profile {opts.profile!r}: choose one of {', '.join(PROFILES)}")
    settings = profile_settings(PROFILES[opts.profile], opts.short_side)
    key = json.dumps(settings, sort_keys=True)
    try:
        os.makedirs(_state_dir(out), exist_ok=True)
    except OSError as e:
        raise ZeldaError(f"--out {opts.out}: cannot create the output folder there "
                         f"({e.strerror or e}); pass a folder path you can write to") from e
    t0 = time.perf_counter()
    mine = shard_jobs(p.jobs, opts.shard)
    journal = read_journals(out)
    vdir = videos_dir(out, opts.format)
    packed = packed_videos(out, _state_dir(out)) if opts.format == "shards" else None
    todo = [j for j in mine if not is_current(journal.get(j.rel), j, vdir, key, packed)]
    for j in todo:  # a kill leaves at most a temporary file: never count it
        _unlink(part_path(os.path.join(vdir, j.rel)))
    skipped = len(mine) - len(todo)
    echo(f"zelda data prepare: {len(p.jobs)} videos in {', '.join(p.splits)}"
         + (f", shard {opts.shard[0]}/{opts.shard[1]}: {len(mine)}" if opts.shard[1] > 1 else "")
         + f"; {skipped} already done, {len(todo)} to do ({opts.profile}, short side "
           f"{opts.short_side or 'native'}, {opts.workers} workers)")
    new = _run_jobs(todo, out, opts, key)
    if opts.format == "shards":
        _pack(out, p, mine, opts, key, echo)
    manifest = merge(out, p, settings, recipe=recipe, fmt=opts.format)
    failed_now = [e for e in new if e["status"] == "failed"]
    errors_now = [e for e in new if e["status"] == "error"]
    manifest["run"] = {
        "videos": len(mine), "prepared": len(new) - len(failed_now) - len(errors_now),
        "skipped": skipped, "failed": len(failed_now), "errors": len(errors_now),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return manifest


def _run_jobs(todo: list[Job], out: str, opts: Options, key: str) -> list[dict[str, Any]]:
    """Run the jobs on a process pool; journal each result as it arrives."""
    done: list[dict[str, Any]] = []
    if not todo:
        return done
    args = [(j, videos_dir(out, opts.format), opts.profile, opts.short_side) for j in todo]
    progress = _Progress(len(todo), opts.log_every)
    with open_journal(_journal_path(out, opts.shard)) as journal:
        def record(entry: dict[str, Any]) -> None:
            entry.update(settings=key, time=time.time())
            try:
                journal.write(json.dumps(entry, separators=(",", ":")) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
            except OSError as e:
                raise ZeldaError(f"cannot write the journal {journal.name}: {e.strerror or e}; "
                                 "free space on that disk and re-run (finished videos are "
                                 "kept)") from e
            done.append(entry)
            progress.update(entry)

        try:
            if opts.workers <= 1:
                for a in args:
                    record(_work(a))
            else:
                import multiprocessing as mp

                with mp.get_context("spawn").Pool(min(opts.workers, len(args))) as pool:
                    for entry in pool.imap_unordered(_work, args, chunksize=1):
                        record(entry)
        finally:
            progress.close()
    return done


class _Progress:
    """tqdm bar with ETA on a terminal; otherwise a line every N videos."""

    def __init__(self, total: int, every: int) -> None:
        self.total, self.n, self.failed, self.t0 = total, 0, 0, time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="video", file=sys.stderr)
        self.every = every or max(1, total // 20)

    def update(self, entry: dict[str, Any]) -> None:
        self.n += 1
        self.failed += entry["status"] != "done"
        if entry["status"] != "done":
            again = " (retried on the next run)" if entry["status"] == "error" else ""
            msg = f"failed: {entry['rel']}: {entry['reason']}{again}"
            if self.bar is not None:
                self.bar.write(msg)
            else:
                print(msg, file=sys.stderr, flush=True)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=self.failed, refresh=False)
        elif self.n % self.every == 0 or self.n == self.total:
            dt = time.perf_counter() - self.t0
            eta = dt / self.n * (self.total - self.n)
            print(f"{self.n}/{self.total} videos, {self.failed} failed, {dt:.0f} s, "
                  f"ETA {eta:.0f} s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _pack(out: str, p: Plan, mine: list[Job], opts: Options, key: str,
          echo: Callable[[str], None]) -> None:
    """Once every video of this share is done or failed, pack the done ones into tars
    and remove their loose copies (the tar holds the verified bytes)."""
    state = _state_dir(out)
    vdir = videos_dir(out, opts.format)
    journal = read_journals(out)
    packed = packed_videos(out, state)
    if not all(is_current(journal.get(j.rel), j, vdir, key, packed) for j in mine):
        echo("shards: not packed yet (some videos of this share could not be written; re-run)")
        return
    labels: dict[str, dict[str, Any]] = {}
    for split, records in p.records.items():
        for rel, label, _ in records:
            labels.setdefault(rel, {})[split] = label
    done = []
    for j in mine:
        e = journal[j.rel]
        if e["status"] != "done":
            continue
        info = {"rel": j.rel, "labels": labels.get(j.rel, {}),
                "sources": [short_source(w, p.root) for w in j.where],
                **{k: e[k] for k in ("frames", "width", "height")}}
        done.append({"rel": j.rel, "out_size": e["out_size"], "info": info})
    for rel in pack_share(out, state, opts.shard, done, lambda rel: _packable(vdir, out, rel),
                          opts.shard_bytes, echo):
        _unlink(os.path.join(vdir, rel))
    shutil.rmtree(os.path.join(vdir, ".repack"), ignore_errors=True)


def _packable(vdir: str, out: str, rel: str) -> str:
    """The loose copy of ``rel``, or (already packed in an older grouping) a path the
    caller reads from: the bytes come back out of the tar they sit in."""
    path = os.path.join(vdir, rel)
    if os.path.exists(path):
        return path
    for e in read_pack_journals(_state_dir(out)).values():
        for m in e["members"]:
            if m["rel"] == rel:
                tmp = os.path.join(vdir, ".repack", rel)
                os.makedirs(os.path.dirname(tmp), exist_ok=True)
                with open(os.path.join(out, SHARDS_DIR, e["name"]), "rb") as f:
                    f.seek(m["offset"])
                    data = f.read(m["size"])
                with open(tmp, "wb") as f:
                    f.write(data)
                return tmp
    raise ZeldaError(f"{rel}: its verified copy is neither in {vdir} nor in a shard; "
                     f"delete {_state_dir(out)} and re-run")


# -- merge: prepare.json, annotation files, the failure report ------------------------------

def merge(out: str, p: Plan, settings: dict[str, Any], *, recipe: str = "",
          fmt: str = "files") -> dict[str, Any]:
    """Merge every shard's journal into ``prepare.json`` (under a lock); once every video
    is accounted for, write the annotation files (or, for shards, ``shards.json``) and
    the failure report."""
    key = json.dumps(settings, sort_keys=True)
    vdir = videos_dir(out, fmt)
    with open(os.path.join(_state_dir(out), "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        journal = read_journals(out)
        packed = packed_videos(out, _state_dir(out)) if fmt == "shards" else None
        videos: dict[str, Any] = {}
        failed: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        pending = 0
        for job in p.jobs:
            e = journal.get(job.rel)
            if not is_current(e, job, vdir, key, packed):
                pending += 1
                if e and e.get("status") == "error" and e.get("settings") == key:
                    errors.append({"file": job.rel, "reason": e.get("reason", "")})
            elif e["status"] == "done":  # type: ignore[index]
                videos[job.rel] = {k: e[k] for k in ("src_size", "src_mtime_ns", "out_size",  # type: ignore[index]
                                                     "frames", "width", "height", "max_thumb_diff")}
            else:
                failed.append({"file": job.rel, "reason": e["reason"],  # type: ignore[index]
                               "listed_at": list(job.where)})
        complete = pending == 0
        set_aside: list[str] = []
        shards = None
        if complete and fmt == "shards":
            shards = write_manifest(
                out, _state_dir(out), p.records, p.classes, {f["file"] for f in failed},
                {"settings": settings, "source_root": p.root, "recipe": recipe})
            complete = shards is not None
        if complete:
            set_aside = _write_data_files(out, p, {f["file"] for f in failed},
                                          write=fmt == "files")
            _write_failed_report(out, failed, set_aside)
        manifest = {
            "version": MANIFEST_VERSION,
            "complete": complete,
            "pending": pending,
            "recipe": recipe,
            "source_root": p.root,
            "splits": p.splits,
            "settings": settings,
            "versions": _versions(),
            "data_files": p.data_files,
            "totals": {
                "videos": len(p.jobs), "prepared": len(videos), "failed": len(failed),
                "source_bytes": sum(v["src_size"] for v in videos.values()),
                "output_bytes": sum(v["out_size"] for v in videos.values()),
            },
            "failed": failed,
            "errors": errors,
            "set_aside_lines": set_aside,
            "videos": videos,
        }
        if fmt == "shards":
            manifest["format"] = "shards"
            manifest["shards"] = ({"manifest": SHARDS_MANIFEST, "count": len(shards["shards"]),
                                   "bytes": sum(s["size"] for s in shards["shards"])}
                                  if shards else None)
        _write_atomic(os.path.join(out, MANIFEST), json.dumps(manifest, indent=1) + "\n")
    return manifest


def _write_data_files(out: str, p: Plan, failed: set[str], write: bool = True) -> list[str]:
    """Copy each data file (unless ``write`` is false); annotation lines naming a failed
    video are left out (and returned as "file:line: text")."""
    drop: dict[str, set[int]] = {}
    for job in p.jobs:
        if job.rel not in failed:
            continue
        for where in job.where:
            file, _, line = where.rpartition(":")
            if file and line.isdigit():
                drop.setdefault(os.path.abspath(file), set()).add(int(line))
    aside: list[str] = []
    for rel in p.data_files:
        src = os.path.join(p.root, rel)
        with open(src, encoding="utf-8", newline="") as f:
            lines = f.read().splitlines(keepends=True)
        lines_out = []
        for n, text in enumerate(lines, 1):
            if n in drop.get(os.path.abspath(src), ()):
                aside.append(f"{rel}:{n}: {text.rstrip()}")
            else:
                lines_out.append(text)
        if write:
            _write_atomic(os.path.join(out, rel), "".join(lines_out))
    return aside


def _write_failed_report(out: str, failed: list[dict[str, Any]], aside: list[str]) -> None:
    path = os.path.join(out, FAILED)
    if not failed:
        _unlink(path)
        return
    text = ["# zelda data prepare: videos that could not be copied (they are not in this",
            "# folder). The annotation lines naming them were left out of the copied",
            "# annotation files; they are listed below as file:line: text.", ""]
    text += [f"{f['file']}: {f['reason']}" for f in failed]
    text += ["", "# annotation lines set aside"] + aside
    _write_atomic(path, "\n".join(text) + "\n")


def _write_atomic(path: str, text: str) -> None:
    """Through a temporary file, removed on failure; a full disk is one error naming it."""
    write_output(path, text, option="--out")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _versions() -> dict[str, Any]:
    from importlib import metadata

    import av

    out: dict[str, Any] = {"python": sys.version.split()[0], "av": av.__version__}
    for dist in ("zelda",):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    out["ffmpeg"] = {k: ".".join(map(str, v)) for k, v in av.library_versions.items()
                     if k in ("libavcodec", "libavformat", "libswscale")}
    return out


def summary_lines(manifest: dict[str, Any]) -> Iterable[str]:
    """The final summary: videos, failures, bytes before and after, time."""
    t, r = manifest["totals"], manifest.get("run", {})
    mb = 1e6
    before, after = t["source_bytes"], t["output_bytes"]
    ratio = f" ({after / before:.2f}x)" if before else ""
    yield (f"this run: {r.get('prepared', 0)} prepared, {r.get('skipped', 0)} already done, "
           f"{r.get('failed', 0)} failed, {r.get('errors', 0)} could not be written, "
           f"{r.get('seconds', 0):.1f} s")
    yield (f"all shards: {t['prepared']}/{t['videos']} videos prepared, {t['failed']} failed, "
           f"{manifest['pending']} pending; {before / mb:.1f} MB -> {after / mb:.1f} MB{ratio}")
    for f in manifest["failed"][:20]:
        yield f"  failed: {f['file']}: {f['reason']}"
    if len(manifest["failed"]) > 20:
        yield f"  ... and {len(manifest['failed']) - 20} more (see {FAILED})"
    errors = manifest.get("errors", [])
    for f in errors[:20]:
        yield f"  not written: {f['file']}: {f['reason']}"
    if len(errors) > 20:
        yield f"  ... and {len(errors) - 20} more"
    if errors:
        yield (f"incomplete: {len(errors)} videos could not be written (an OS error such as a "
               f"full disk, not a fault of the video); fix it and re-run to finish")
    elif manifest["complete"]:
        extra = f"; failures and their annotation lines: {FAILED}" if manifest["failed"] else ""
        if manifest.get("format") == "shards":
            s = manifest["shards"]
            yield (f"complete: {s['count']} shards, {s['bytes'] / mb:.1f} MB, listed in "
                   f"<out>/{SHARDS_MANIFEST}; stream them with a split table of type = "
                   f"\"shards\" and data.root=<out> (or where you upload it, docs/data.md){extra}")
        else:
            yield f"complete: train on it with --set data.root=<out>{extra}"
    else:
        yield (f"incomplete: {manifest['pending']} videos belong to other shards or are not "
               f"done yet; re-run (any shard) to finish")
