"""zelda bundled plugin: Weights & Biases tracking (extra ``zelda-video[wandb]``).

Component (kind ``loggers``): ``wandb``. Registration is lazy: wandb is imported only
when a recipe names ``[loggers.wandb]``.
"""

from zelda_core.api import hookimpl


@hookimpl
def register_loggers(register):
    register("wandb", "zelda_wandb.logger:WandbLogger",
             help="Weights & Biases run: config, metrics per step, summary, artifacts "
                  "(mode = \"offline\" needs no account)")
