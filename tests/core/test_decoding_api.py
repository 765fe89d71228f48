"""zelda_decoding, the decoder authors' library: its stated API exists, is versioned, and
importing the package costs no decoder library."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

import zelda_decoding

MODULES = ("index", "cursor", "rgb", "boundary", "ffmpeg_log", "h264_order")


@pytest.mark.parametrize("name", MODULES)
def test_each_module_states_its_api_and_has_it(name):
    module = importlib.import_module(f"zelda_decoding.{name}")
    assert module.__all__, name
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []
    # the package docstring lists exactly the names of each module's __all__
    doc = zelda_decoding.__doc__
    stated = doc.split(f"``zelda_decoding.{name}``:", 1)[1].split("\n- ", 1)[0]
    stated = stated.split("\n\n", 1)[0]
    assert set(re.findall(r"``(\w+)``", stated)) == set(module.__all__)


def test_the_api_is_versioned():
    zelda_decoding.require(zelda_decoding.API_VERSION)
    with pytest.raises(ImportError, match=r"needs zelda_decoding API 99; .* provides API 1"):
        zelda_decoding.require(99)


def test_importing_it_imports_no_decoder_library():
    code = ("import sys, zelda_decoding, zelda_decoding.index, zelda_decoding.cursor, "
            "zelda_decoding.boundary, zelda_decoding.ffmpeg_log\n"
            "print(sorted(m for m in ('av', 'decord', 'torch', 'torchcodec') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
