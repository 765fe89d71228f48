"""Fine-tuning hooks of the torchvision models: layer order for layer-wise lr decay, drop
path (stochastic depth) and gradient checkpointing, through the engine's recipe keys.

Needs torchvision (the nox session ``tests_torchvision``)."""

from __future__ import annotations

import pytest
import torch
from extras import need

need("torchvision", "torchvision")

from engine_util import quick_config, toy_batches  # noqa: E402

from zelda_core._engine.assemble import build_training  # noqa: E402
from zelda_core._registry import build  # noqa: E402

TINY = {"mvit_v2_s": dict(frames=4, crop_size=32)}


def _model(arch: str, *, real: bool = False, **kw) -> torch.nn.Module:
    """The model on the meta device (structure only: fast); ``real``: on the CPU, filled
    with small seeded random values (faster than torchvision's initialization)."""
    with torch.device("meta"):
        model = build("models", {"type": arch, "num_classes": 3, **TINY.get(arch, {}), **kw}, key="model")
    if real:
        model = model.to_empty(device="cpu")
        g = torch.Generator().manual_seed(0)
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if name.endswith("running_var")
                        else torch.randn(t.shape, generator=g) * 0.02)
            else:
                t.zero_()
        model.preprocessor.mean.fill_(114.0)
        model.preprocessor.std.fill_(58.0)
    return model


def _depths(model) -> list[float]:
    return [m.p for m in model.modules() if type(m).__name__ == "StochasticDepth"]


@pytest.mark.parametrize("arch, blocks", [("mvit_v2_s", 16), ("swin3d_t", 12), ("r3d_18", 8)])
def test_lr_layers_and_layer_decay_groups(arch, blocks, tmp_path):
    """Every parameter has a layer: the stem 0, each block its own in input order, the norm
    and classifier last; train.finetune.layer_decay gives each layer lr x d^(L - i), with
    no weight decay on norms and biases."""
    model = _model(arch)
    layers = model.lr_layers()
    assert set(layers) == {n for n, _ in model.named_parameters()}
    top = blocks + 1
    assert sorted(set(layers.values())) == list(range(top + 1))
    head = {"mvit_v2_s": "net.head.1.weight", "swin3d_t": "net.head.weight", "r3d_18": "net.fc.weight"}[arch]
    stem = {"mvit_v2_s": "net.conv_proj.weight", "swin3d_t": "net.patch_embed.proj.weight",
            "r3d_18": "net.stem.0.weight"}[arch]
    assert layers[head] == top and layers[stem] == 0
    firsts = [layers[n] for n in layers if n.endswith(("blocks.0.attn.qkv.weight", "blocks.15.attn.qkv.weight",
                                                         "features.0.0.attn.qkv.weight",
                                                         "features.6.1.attn.qkv.weight",
                                                         "layer1.0.conv1.0.weight", "layer4.1.conv1.0.weight"))]
    assert firsts == [1, blocks]
    if arch == "swin3d_t":  # patch merging feeds the next stage's first block
        assert layers["net.features.1.reduction.weight"] == layers["net.features.2.0.norm1.weight"] == 3
    config = quick_config(optimizer={"type": "AdamW", "lr": 1e-3, "weight_decay": 0.05},
                          finetune={"layer_decay": 0.75, "no_decay": ["norm", "bias"]})
    model = model.to_empty(device="cpu")
    parts = build_training(model, config=config, train_batches=toy_batches, steps_per_epoch=1,
                           work_dir=tmp_path)
    lr_of = {id(p): g["lr"] for g in parts.optimizer.param_groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in parts.optimizer.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        assert lr_of[id(p)] == pytest.approx(1e-3 * 0.75 ** (top - layers[name])), name
    params = dict(model.named_parameters())
    assert wd_of[id(params[head])] == 0.05 and wd_of[id(params[head.replace("weight", "bias")])] == 0.0


def test_drop_path_is_stochastic_depth():
    """drop_path sets torchvision's stochastic_depth_prob (the last block's rate, rising
    from 0 at the first); left out, torchvision's default; conv nets have no such key."""
    for arch, default in (("mvit_v2_s", 0.2), ("swin3d_t", 0.1)):
        depths = _depths(_model(arch, drop_path=0.3))
        assert depths[0] == 0.0 and depths[-1] == pytest.approx(0.3), arch
        assert _depths(_model(arch))[-1] == pytest.approx(default), arch
        assert _depths(_model(arch, drop_path=0.0)) == [0.0] * len(depths)
    with pytest.raises(Exception, match="drop_path must be in"):
        _model("swin3d_t", drop_path=1.0)
    with pytest.raises(Exception, match="drop_path"):
        _model("r3d_18", drop_path=0.1)


def test_gradient_checkpointing_covers_every_block():
    """Each architecture's blocks are checkpointed (their class swapped, their parameter
    names kept); a model without the method is a recipe error naming the key."""
    from zelda_torchvision.tuning import _Checkpointed, blocks

    from zelda_core._engine.finetune import enable_gradient_checkpointing
    from zelda_core._errors import RecipeError

    for arch, count in (("mvit_v2_s", 16), ("swin3d_t", 12), ("r3d_18", 8), ("s3d", 11)):
        model = _model(arch)
        keys = list(model.state_dict())
        enable_gradient_checkpointing(model)
        found = blocks(model.net, arch)
        assert len(found) == count and all(isinstance(b, _Checkpointed) for _, b in found), arch
        assert list(model.state_dict()) == keys
    with pytest.raises(RecipeError, match="train.gradient_checkpointing: the model"):
        enable_gradient_checkpointing(torch.nn.Linear(2, 2))


def test_gradient_checkpointing_recomputes_blocks_with_the_same_gradients(tmp_path):
    """train.gradient_checkpointing: each block runs again in the backward pass (a layer
    inside it is called twice per step), the loss and every gradient equal the plain
    model's, drop path included, and evaluation never recomputes."""
    inputs = torch.randint(0, 256, (2, 1, 3, 4, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2])
    results = []
    for on in (False, True):
        model = _model("mvit_v2_s", real=True, drop_path=0.5)
        build_training(model, config=quick_config(gradient_checkpointing=on), train_batches=toy_batches,
                       steps_per_epoch=1, work_dir=tmp_path / str(on))
        calls: list[int] = []
        model.net.blocks[3].mlp.register_forward_hook(lambda *_, seen=calls: seen.append(1))
        model.train()
        torch.manual_seed(1)
        loss = model.loss(inputs, labels)
        forward_calls = len(calls)
        loss.backward()
        assert forward_calls == 1 and len(calls) == (2 if on else 1)
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
        model.eval()
        with torch.no_grad():
            calls.clear()
            model.predict(inputs)
            assert len(calls) == 1
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b)
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-4, atol=1e-6, msg=name)
