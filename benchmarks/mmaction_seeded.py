"""Run ../shared/bench/mmaction_seed.py with another seed (it hard-codes seed 0).

usage: python benchmarks/mmaction_seeded.py SEED train DATA_ROOT [--epochs 10] [--work-dir DIR]

Only MMEngine's ``randomness=dict(seed=...)`` is changed; everything else is the unmodified
seed script (run through runpy), so seed 0 is identical to running it directly.
"""

import os
import runpy
import sys

seed = int(sys.argv.pop(1))
script = os.environ.get("MMACTION_SEED_SCRIPT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench", "mmaction_seed.py")

import mmengine.runner  # noqa: E402

_init = mmengine.runner.Runner.__init__


def _seeded_init(self, *args, **kwargs):
    kwargs["randomness"] = dict(seed=seed)
    return _init(self, *args, **kwargs)


mmengine.runner.Runner.__init__ = _seeded_init
sys.argv = [script] + sys.argv[1:]
runpy.run_path(script, run_name="__main__")
