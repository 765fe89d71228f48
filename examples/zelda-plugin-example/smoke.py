"""Use the example plugin's components through zelda's registry, as a recipe would."""

import numpy as np
import torch

from zelda_core import build

reverse = build("transforms", {"type": "temporal_reverse"})
sample = reverse({"imgs": np.arange(4, dtype=np.uint8).reshape(4, 1, 1, 1), "clip_len": 2})
assert sample["imgs"].ravel().tolist() == [1, 0, 3, 2], sample["imgs"].ravel()

metric = build("metrics", {"type": "error_rate"})
metric.update(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0]))
assert metric.compute() == {"error_rate": 0.5}
print("example plugin: ok")

# zelda's conformance kit: the transform returns the sample and draws randomness only from
# sample["rng"]; the metric resets, batches and computes as the contract says.
from zelda_testing import check_metric, check_transform  # noqa: E402

check_transform("temporal_reverse", params={"p": 0.5})
check_metric("error_rate")
print("example plugin: conformance kit ok")
