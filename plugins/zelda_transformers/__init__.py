"""zelda bundled plugin: Hugging Face ``transformers`` video classifiers as zelda models.

Registers ``videomae``, ``vjepa2``, ``timesformer`` and ``vivit`` (kind ``models``), and
``hf_video`` for any ``AutoModelForVideoClassification`` checkpoint. Each takes a
``checkpoint`` (Hub id with ``revision``, or a local folder) or a ``config`` table (random
initialization); the checkpoint's processor config supplies the recipe's preprocessing
defaults (``input_spec``). ``zelda export --format hf`` writes the fine-tuned model back as
a ``transformers`` folder.

Needs the optional extra ``transformers``. Registration is lazy ("module:attr" strings):
importing this package imports neither torch nor transformers.
"""

from zelda_core.api import hookimpl

from .archs import ARCHS


@hookimpl
def register_models(register):
    for name, arch in ARCHS.items():
        register(name, f"zelda_transformers.models:{name}", help=arch.help)
    register("hf_video", "zelda_transformers.models:hf_video",
             help="any transformers AutoModelForVideoClassification checkpoint")
