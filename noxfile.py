"""Sessions: tests (per decoder backend), lint, example_plugin.

Each session installs the CPU build torch==2.13.0 first (set ZELDA_NOX_TORCH to change it),
so a fresh virtualenv never pulls a multi-GB CUDA build.
"""

from __future__ import annotations

import json
import os

import nox

nox.options.sessions = ["lint", "tests", "example_plugin"]
TORCH = os.environ.get("ZELDA_NOX_TORCH", "torch==2.13.0")
DECODERS = ["pyav", "decord"]


def install_zelda(session: nox.Session, extras: str = "test") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
@nox.parametrize("decoder", DECODERS)
def tests(session: nox.Session, decoder: str) -> None:
    """The test suite with one decoder backend (tests read ZELDA_TEST_DECODER)."""
    # export and plot: the deploy tests run the real onnxruntime and matplotlib
    install_zelda(session, "test,export,plot,decord" if decoder == "decord" else "test,export,plot")
    session.run(
        "pytest", "-q", *session.posargs,
        env={"ZELDA_TEST_DECODER": decoder, "ZELDA_STRICT_PLUGINS": "1"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the engine, plugins, tests and examples."""
    session.install("ruff")
    session.run("ruff", "check", "zelda_core", "plugins", "tests", "examples", "benchmarks", "noxfile.py")


@nox.session
def example_plugin(session: nox.Session) -> None:
    """Install the example third-party plugin and use it: discovery, recipe check, build."""
    install_zelda(session)
    session.install("--no-build-isolation", "./examples/zelda-plugin-example")
    listing = session.run("zelda", "plugins", "--json", silent=True)
    plugins = {p["name"]: p for p in json.loads(listing)}
    example = plugins.get("example")
    if not example or example["status"] != "active":
        session.error(f"the example plugin is not listed as active: {listing}")
    if example["components"]["transforms"] != ["temporal_reverse"] or \
            example["components"]["metrics"] != ["error_rate"]:
        session.error(f"unexpected components: {example['components']}")
    session.run("zelda", "recipe", "check", "examples/zelda-plugin-example/recipe.toml",
                env={"ZELDA_STRICT_PLUGINS": "1"})
    session.run("python", "examples/zelda-plugin-example/smoke.py")
