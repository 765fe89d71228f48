"""Sessions: lint, tests (per decoder backend), example_plugin, decoder_example, slurm, and one
``tests_<extra>`` session per bundled plugin that needs an optional extra (OPTIONAL_PLUGINS).
All are defaults: ``nox`` with no ``-s`` (what .ci/run calls) runs every one of them.

Each session installs the CPU build torch==2.13.0 first (set ZELDA_NOX_TORCH to change it),
so a fresh virtualenv never pulls a multi-GB CUDA build, except where an optional plugin's
library needs its own torch (OPTIONAL_PLUGINS names the pair it installs first).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

import nox

TORCH = os.environ.get("ZELDA_NOX_TORCH", "torch==2.13.0")
DECODERS = ["pyav", "decord", "torchcodec"]
TORCHCODEC = os.environ.get("ZELDA_NOX_TORCHCODEC", "torchcodec==0.13.0")
"""The torchcodec release for ZELDA_NOX_TORCH: 0.13.0 is the last CPU build on the index that
imports beside torch 2.13.0 (0.14-0.17 link CUDA libraries). It needs FFmpeg 4-8 shared
libraries on the system (.ci/run installs Debian's)."""


@dataclass(frozen=True)
class OptionalPlugin:
    """A bundled plugin whose tests need an extra: its session installs ``pins`` first (a
    library built against one torch release brings that torch), then the extra, and runs
    ``tests`` with ZELDA_TEST_EXTRAS naming the extra (tests/helpers/extras.py: a missing
    library is then a failure, not a skip)."""

    pins: tuple[str, ...]
    tests: tuple[str, ...]
    extras: tuple[str, ...] = ()
    """Other extras its tests need (installed and required too)."""


OPTIONAL_PLUGINS = {
    # torchvision 0.29.1 imports only beside torch 2.14.1 (docs/models.md); PyPI's 0.28.0 is
    # a CUDA build that fails beside the CPU torch 2.13.0 of the other sessions
    "torchvision": OptionalPlugin(
        pins=("torch==2.14.1", "torchvision==0.29.1"),
        tests=("tests/plugins/zelda_torchvision", "tests/core/test_finetune.py",
               # the augmentation kernels against torchvision.transforms.v2.functional
               "tests/plugins/zelda_transforms/test_augment.py")),
    # the trackers (loggers); the wandb session brings mlflow too: its end-to-end test is
    # one kinetics2_tiny run logging to both
    "mlflow": OptionalPlugin(pins=(TORCH,), tests=("tests/plugins/zelda_mlflow",)),
    "wandb": OptionalPlugin(pins=(TORCH, "mlflow>=2.12"), tests=("tests/plugins/zelda_wandb",)),
    # transformers 5 needs no torchvision and imports beside the CPU torch 2.13.0; export:
    # the plugin's tests check ONNX parity of VideoMAE
    "transformers": OptionalPlugin(
        pins=(TORCH,), tests=("tests/plugins/zelda_transformers",), extras=("export",)),
    # the shards dataset: s3fs/fsspec/aiohttp (the extra), moto's S3 server and webdataset
    # for the tests; the CPU torch of the other sessions first (prepare --format shards is
    # tested in the tests sessions: it needs no extra)
    "shards": OptionalPlugin(
        pins=(TORCH, "moto[server]>=5", "webdataset>=0.2.90", "boto3"),
        tests=("tests/plugins/zelda_shards",)),
    # a new optional plugin adds its entry here (and its extra in pyproject.toml); its
    # session tests_<name> is then part of the default run and of .ci/run
}

nox.options.sessions = ["lint", "tests", "example_plugin", "decoder_example", "slurm",
                        *(f"tests_{name}" for name in OPTIONAL_PLUGINS)]


def install_zelda(session: nox.Session, extras: str = "test") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
@nox.parametrize("decoder", DECODERS)
def tests(session: nox.Session, decoder: str) -> None:
    """The test suite with one decoder backend (tests read ZELDA_TEST_DECODER)."""
    # export and plot: the deploy tests run the real onnxruntime and matplotlib
    extras = "export,plot" + ("" if decoder == "pyav" else f",{decoder}")
    if decoder == "torchcodec":
        session.install(TORCH, TORCHCODEC)  # the extra pins no torch: the matching pair first
    install_zelda(session, f"test,{extras}")
    session.run(
        "pytest", "-q", *session.posargs,
        # ZELDA_TEST_EXTRAS: a test needing an installed extra fails, never skips, here
        env={"ZELDA_TEST_DECODER": decoder, "ZELDA_TEST_EXTRAS": extras,
             "ZELDA_STRICT_PLUGINS": "1"},
    )


def _optional_plugin_session(extra: str, plugin: OptionalPlugin) -> None:
    def session_func(session: nox.Session) -> None:
        session.install(*plugin.pins)
        extras = ",".join((extra, *plugin.extras))
        session.install("-e", f".[test,{extras}]")
        session.run("pytest", "-q", *plugin.tests, *session.posargs,
                    env={"ZELDA_TEST_EXTRAS": extras, "ZELDA_STRICT_PLUGINS": "1"})

    session_func.__doc__ = (f"The tests of the plugin that needs the {extra} extra, with "
                            f"{' + '.join(plugin.pins)} installed first.")
    nox.session(name=f"tests_{extra}")(session_func)


for _extra, _plugin in OPTIONAL_PLUGINS.items():
    _optional_plugin_session(_extra, _plugin)


SLURM_TESTS = ("tests/core/test_slurm_launch.py", "tests/core/test_slurm_requeue.py")


@nox.session
def slurm(session: nox.Session) -> None:
    """zelda run --slurm (the slurm extra: submitit) on a single-node SLURM cluster that the
    test starts and stops itself (slurmctld + slurmd on 127.0.0.1): a short run requeued
    mid-epoch resumes to the uninterrupted result. Debian's slurm-wlm is installed when
    missing (CI runs as root); ZELDA_TEST_SLURM=1 makes a cluster that cannot start a
    failure, not a skip."""
    if shutil.which("slurmctld") is None:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "slurm-wlm",
                    external=True)
    install_zelda(session, "test,slurm")
    session.run("pytest", "-q", "-m", "slurm or not slurm", *SLURM_TESTS, *session.posargs,
                env={"ZELDA_TEST_EXTRAS": "slurm", "ZELDA_TEST_SLURM": "1", "ZELDA_STRICT_PLUGINS": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the engine, the decoder library, plugins, tests and examples."""
    session.install("ruff")
    session.run("ruff", "check", "zelda_core", "zelda_decoding", "zelda_testing", "plugins", "tests", "examples",
                "benchmarks", "noxfile.py")


RUNTIME = ["numpy>=1.24", "pluggy>=1.3", "av>=12", "tqdm>=4.60", "tomli-w>=1.0"]
"""zelda-video's dependencies besides torch, installed from the index before the
--no-index install that must resolve zelda-video to the locally built wheel."""


@nox.session
def example_plugin(session: nox.Session) -> None:
    """Build zelda-video's wheel, install the example plugin from local wheels only
    (--no-index: its dependency "zelda-video" must resolve to this project, never to an
    unrelated PyPI package), then use it: discovery, recipe check, build."""
    wheels = session.create_tmp()
    session.install(TORCH, *RUNTIME, "setuptools>=69")
    session.run("pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", wheels,
                ".", "./examples/zelda-plugin-example")
    session.install("--no-index", "--find-links", wheels, "zelda-plugin-example")
    session.run("python", "-I", "-c", (  # -I: not the checkout's zelda_core
        "import importlib.metadata as m, pathlib, zelda_core, zelda_testing\n"
        "dist = m.distribution('zelda-video')\n"
        "assert pathlib.Path(zelda_core.__file__).is_relative_to(dist.locate_file('')), "
        "zelda_core.__file__\n"
        "assert 'zelda-video' in m.distribution('zelda-plugin-example').requires[0]\n"
        "print('zelda-plugin-example resolved zelda-video', dist.version, 'from the wheel')"))
    listing = session.run("zelda", "plugins", "--json", silent=True)
    plugins = {p["name"]: p for p in json.loads(listing)}
    example = plugins.get("zelda_plugin_example")
    if not example or example["status"] != "imported":
        session.error(f"the example plugin is not listed as imported: {listing}")
    if example["components"]["transforms"] != ["temporal_reverse"] or \
            example["components"]["metrics"] != ["error_rate"]:
        session.error(f"unexpected components: {example['components']}")
    session.run("zelda", "plugins", "--check", env={"ZELDA_STRICT_PLUGINS": "1"}, silent=True)
    session.run("zelda", "recipe", "check", "examples/zelda-plugin-example/recipe.toml",
                env={"ZELDA_STRICT_PLUGINS": "1"})
    session.run("python", "examples/zelda-plugin-example/smoke.py")


@nox.session
def decoder_example(session: nox.Session) -> None:
    """The OpenCV decoder example (optional dependency opencv-python-headless): install it
    and run its tests, which use zelda's conformance kit."""
    install_zelda(session)
    session.install("./examples/zelda-decoder-example[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "examples/zelda-decoder-example/tests",
                env={"ZELDA_STRICT_PLUGINS": "1"})
