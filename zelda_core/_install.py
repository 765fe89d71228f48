"""The ``pip install`` line that adds an optional extra, naming the installed distribution.

``zelda`` on PyPI is an unrelated project: a hint that names it with an extra installs
a stranger's code. Hints read the distribution that provides a package from the
installed metadata (it may be renamed or vendored), falling back to ``zelda-video``.
"""

from __future__ import annotations

import functools

DISTRIBUTION = "zelda-video"
"""This project's distribution name on PyPI (the command is ``zelda``)."""


@functools.cache
def distribution_of(package: str = "zelda_core") -> str:
    """The installed distribution that provides the import package ``package`` (a dotted
    name's top level counts), or ``zelda-video`` when the metadata does not say."""
    from importlib import metadata

    top = package.partition(".")[0]
    try:  # the common case, without scanning every installed distribution
        dist = metadata.distribution(DISTRIBUTION)
        if top in (dist.read_text("top_level.txt") or "").split():
            return dist.metadata["Name"]
    except Exception:  # not installed under that name, or broken metadata
        pass
    try:
        names = metadata.packages_distributions().get(top)
    except Exception:
        names = None
    return names[0] if names else DISTRIBUTION


def install_hint(extra: str | None = None, *, package: str = "zelda_core") -> str:
    """``pip install 'DIST[extra]'`` for the distribution providing ``package``.

    A plugin passes its own ``__package__`` to name its own distribution's extra."""
    dist = distribution_of(package)
    return f"pip install '{dist}[{extra}]'" if extra else f"pip install {dist}"
