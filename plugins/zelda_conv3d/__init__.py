"""zelda bundled plugin: the tutorial's Conv3d recognizer (registered through the 'zelda'
entry-point group).

Components (kind ``models``):

- ``recognizer``: preprocessor -> backbone -> head (takes the three built parts);
- ``normalize``: data preprocessor, mean/std on the 0-255 scale, views batched (the
  core's ``zelda_core.api.Normalize``, which other model plugins use too);
- ``conv3d_tiny``: the tutorial's two-layer Conv3d backbone (128 output channels);
- ``cls_head``: global average pool, dropout, linear, cross-entropy, view averaging.

Registration is lazy ("module:attr" strings): importing this package imports no torch.
"""

from zelda_core.api import hookimpl


@hookimpl
def register_models(register):
    register(
        "recognizer",
        "zelda_conv3d.model:recognizer",
        help="preprocessor -> backbone -> head (the tutorial's recognizer)",
    )
    register(
        "normalize",
        "zelda_core.api:Normalize",
        help="uint8 (B,V,C,T,H,W) -> normalized float (B*V,C,T,H,W) on the model's device",
    )
    register(
        "conv3d_tiny",
        "zelda_conv3d.model:Conv3dTiny",
        help="the tutorial's Conv3d backbone: 3->64 (3x7x7), maxpool, 64->128 (3x3x3)",
    )
    register(
        "cls_head",
        "zelda_conv3d.model:ClsHead",
        help="avg pool, dropout, linear, cross-entropy; averages views ('prob'/'score')",
    )
