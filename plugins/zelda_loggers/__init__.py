"""zelda bundled plugin: the run's own loggers (registered through the 'zelda'
entry-point group).

Components (kind ``loggers``): ``jsonl`` (``metrics.jsonl``, the run's record) and
``tensorboard`` (``work_dir/tensorboard``, with the ``tensorboard`` extra). Every run has
both without naming them. Registration is lazy: importing this package imports nothing.
"""

from zelda_core.api import hookimpl


@hookimpl
def register_loggers(register):
    register("jsonl", "zelda_loggers.jsonl:JsonlLogger",
             help="metrics.jsonl in the work dir: one JSON object per record (always on)")
    register("tensorboard", "zelda_loggers.tensorboard:TensorBoardLogger",
             help="TensorBoard scalars in work_dir/tensorboard (on when tensorboard is installed)")
