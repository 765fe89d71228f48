"""zelda bundled plugin: batch-level mixup and cutmix (registered through the 'zelda'
entry-point group), with the semantics of timm's ``Mixup``.

Components (kind ``batch_transforms``, recipe ``[[train.batch_transforms]]``):

- ``mixup``: timm's ``Mixup``: mixup and/or cutmix (``mixup_alpha``, ``cutmix_alpha``,
  ``cutmix_minmax``, ``prob``, ``switch_prob``, ``mode`` batch/pair/elem);
- ``cutmix``: the same with cutmix only (``cutmix_alpha`` 1.0, ``mixup_alpha`` 0).

Its own plugin, not part of ``zelda_transforms``: those are per-clip pipeline steps on
numpy in the loader's workers; these are torch operations on a whole batch on the
training device, a kind of their own. Registration is lazy: importing this package
imports no torch.
"""

from zelda_core.api import hookimpl


@hookimpl
def register_batch_transforms(register):
    register("mixup", "zelda_mixup.mixup:Mixup",
             help="timm's Mixup: mixup and/or cutmix of the batch, soft targets (batch/pair/elem)")
    register("cutmix", "zelda_mixup.mixup:cutmix",
             help="cutmix only: one box per clip, the same in every frame; lam = 1 - box area")
