"""Registers the example components. Heavy code lives in submodules named lazily."""

from zelda_core import hookimpl


@hookimpl
def register_transforms(register):
    register("temporal_reverse", "zelda_plugin_example.transforms:TemporalReverse",
             help="play each clip backwards (a temporal augmentation)")


@hookimpl
def register_metrics(register):
    register("error_rate", "zelda_plugin_example.metrics:ErrorRate",
             help="1 - top-1 accuracy")
