"""What zelda needs to know about each torchvision video classifier (plain data, no torch)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    """One torchvision video classifier.

    ``weights_enum``: the torchvision ``WeightsEnum`` class name; ``classifier``: the dotted
    path of the final class-scoring layer inside the network; ``conv``: a 3D-conv network
    (channels_last_3d helps it); ``fixed_size``: the network is built for one clip size
    (MViT's positional embeddings), so the pipeline must produce exactly that size."""

    weights_enum: str
    classifier: str
    help: str
    conv: bool = True
    fixed_size: bool = False


ARCHS: dict[str, Arch] = {
    "r3d_18": Arch("R3D_18_Weights", "fc", "ResNet3D-18 (Tran et al. 2018), 33M params, 112px"),
    "mc3_18": Arch("MC3_18_Weights", "fc", "mixed-convolution ResNet-18 (MC3), 12M params, 112px"),
    "r2plus1d_18": Arch("R2Plus1D_18_Weights", "fc", "R(2+1)D-18, factorized 3D convs, 32M params, 112px"),
    "s3d": Arch("S3D_Weights", "classifier.1", "S3D (separable Inception), 8M params, 224px"),
    "mvit_v1_b": Arch("MViT_V1_B_Weights", "head.1", "MViT-v1-B, 37M params, 16x224x224 clips",
                      conv=False, fixed_size=True),
    "mvit_v2_s": Arch("MViT_V2_S_Weights", "head.1", "MViT-v2-S, 35M params, 16x224x224 clips",
                      conv=False, fixed_size=True),
    "swin3d_t": Arch("Swin3D_T_Weights", "head", "Video Swin-T, 28M params, 224px", conv=False),
    "swin3d_s": Arch("Swin3D_S_Weights", "head", "Video Swin-S, 50M params, 224px", conv=False),
    "swin3d_b": Arch("Swin3D_B_Weights", "head", "Video Swin-B, 88M params, 224px", conv=False),
}
