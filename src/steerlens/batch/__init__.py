"""``steerlens batch``: morph a dataset (folder, ImageFolder, manifest, built-in) at scale, resumably.

Modules, one job each:

- :mod:`~steerlens.batch.inputs`: read INPUT into image items (paths, hashes, labels, targets).
- :mod:`~steerlens.batch.plan`: target rules, content-addressed cases, deterministic chunks.
- :mod:`~steerlens.batch.worker`: run one chunk (model cached per process), rows and artefact bytes.
- :mod:`~steerlens.batch.engine`: the driver loop that runs chunks on an executor
  (:mod:`steerlens.runs.executor`, in-process or Dask) and records results.
- :mod:`~steerlens.batch.store`: the output folder (identity, journal, case folders, Parquet/CSV).
- :mod:`~steerlens.batch.summary`: ``summary.md``.
- :mod:`~steerlens.batch.run`: :func:`run_batch`, all of the above in one call.

Dask is imported only when ``workers`` or ``scheduler`` is given.
"""

from steerlens.batch.run import run_batch

__all__ = ["run_batch"]
