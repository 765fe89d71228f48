"""zelda bundled plugin: classification metrics (registered through the 'zelda'
entry-point group).

Components (kind ``metrics``): ``top_k_accuracy``, ``mean_class_accuracy``,
``confusion_matrix`` (single-label); ``mean_average_precision``, ``top_k_recall``
(multi-label, and single-label read as one-hot). Registration is lazy: importing this package imports no torch.
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
    register(
        "mean_average_precision",
        "zelda_metrics.multilabel:MeanAveragePrecision",
        help="mAP over classes (macro) and over all pairs (micro); per-class AP saved as CSV",
    )
    register(
        "top_k_recall",
        "zelda_metrics.multilabel:TopKRecall",
        help="per sample, the share of its true labels among the k best scores, for each k",
    )
