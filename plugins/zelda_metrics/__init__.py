"""zelda bundled plugin: classification metrics (registered through the 'zelda'
entry-point group).

Components (kind ``metrics``): ``top_k_accuracy``, ``mean_class_accuracy``,
``confusion_matrix``. Registration is lazy: importing this package imports no torch.
"""

from zelda_core.api import hookimpl


@hookimpl
def register_metrics(register):
    register(
        "top_k_accuracy",
        "zelda_metrics.classification:TopKAccuracy",
        help="fraction of samples whose label is among the k best scores, for each k",
    )
    register(
        "mean_class_accuracy",
        "zelda_metrics.classification:MeanClassAccuracy",
        help="mean over the classes present in the labels of per-class recall",
    )
    register(
        "confusion_matrix",
        "zelda_metrics.classification:ConfusionMatrix",
        help="counts of (true, predicted) label pairs, saved as CSV",
    )
