"""zelda bundled plugin: torchvision's video classifiers as zelda models.

Registers ``r3d_18``, ``mc3_18``, ``r2plus1d_18``, ``s3d``, ``mvit_v1_b``, ``mvit_v2_s``,
``swin3d_t``, ``swin3d_s`` and ``swin3d_b`` (kind ``models``): each a whole model
(normalization, network, loss, view averaging) whose ``weights`` may be a torchvision weight
name (e.g. ``"KINETICS400_V1"``), a local ``.pth`` file or a URL. The weight set's own
preprocessing (mean/std, resize, crop, clip length) supplies the recipe's defaults.

Needs the optional extra ``torchvision`` (docs/models.md: the torch/torchvision pair).
Registration is lazy ("module:attr" strings): importing this package imports neither
torch nor torchvision.
"""

from zelda_core.api import hookimpl

from .archs import ARCHS


@hookimpl
def register_models(register):
    for name, arch in ARCHS.items():
        register(name, f"zelda_torchvision.models:{name}", help=arch.help)
