"""The one resumable runs engine under ``steerlens batch`` and ``steerlens experiment``.

Modules, one job each:

- :mod:`~steerlens.runs.datasets`: the dataset registry (names, splits, ``NAME:PART:INDEX`` refs).
- :mod:`~steerlens.runs.judges`: scoring judges (independent classifiers) on morph endpoints.
- :mod:`~steerlens.runs.resume`: which chunks to run again, with which composition.

Not moved yet: the in-process/Dask executors and the chunk worker still live in
:mod:`steerlens.batch.engine` and :mod:`steerlens.batch.worker`; experiments run their chunks in
their own loop (:mod:`steerlens.experiments.runner`).

The journal itself (JSON lines, torn-line tolerant, repaired before appending) is
:mod:`steerlens.journal`, a leaf helper the report reads too.
"""
