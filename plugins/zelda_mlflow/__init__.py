"""zelda bundled plugin: MLflow tracking (extra ``zelda-video[mlflow]``).

Component (kind ``loggers``): ``mlflow``. Registration is lazy: mlflow is imported only
when a recipe names ``[loggers.mlflow]``.
"""

from zelda_core.api import hookimpl


@hookimpl
def register_loggers(register):
    register("mlflow", "zelda_mlflow.logger:MlflowLogger",
             help="MLflow run: resolved recipe as params, metrics per step, artifacts, "
                  "the test as a nested run")
