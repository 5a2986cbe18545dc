"""Heavy third-party libraries imported once in the process Airflow forks task processes from, so that no task pays
for them again (importing Evidently alone takes seconds; every task process of a run used to import it anew).

Not for import by DAG files, plugins or the library: named only by the workers' settings in
`monitoring_airflow.warm_workers` (the CeleryExecutor's `imports`, the LocalExecutor's forkserver preload). Only
third-party modules: a preloaded project module would stay at the version the worker started with. Nothing is
computed here (OpenMP and BLAS thread pools must not start before a fork).
"""

import gc

import boto3  # noqa: F401
import botocore.session  # noqa: F401
import evidently  # noqa: F401  (pandas, numpy, scipy and most of scikit-learn come with it)
import evidently.legacy.calculations.stattests.registry  # noqa: F401
import evidently.presets  # noqa: F401
import pandas  # noqa: F401
import pyarrow.compute  # noqa: F401
import pyarrow.parquet  # noqa: F401
import pydantic  # noqa: F401
import sklearn.ensemble  # noqa: F401
import sklearn.isotonic  # noqa: F401
import sklearn.linear_model  # noqa: F401
import sklearn.model_selection  # noqa: F401
import threadpoolctl  # noqa: F401

# The imported objects into the permanent generation: the forked tasks' garbage collector neither walks nor copies
# them (the figures are in benchmarks/README.md).
gc.freeze()
