"""The one resumable runs engine under ``steerlens batch`` and ``steerlens experiment``.

Modules, one job each:

- :mod:`~steerlens.runs.datasets`: the dataset registry (names, splits, ``NAME:PART:INDEX`` refs).
- :mod:`~steerlens.runs.judges`: scoring judges (independent classifiers) on morph endpoints.
- :mod:`~steerlens.runs.resume`: which chunks to run again, with which composition.
- :mod:`~steerlens.runs.executor`: in-process and Dask executors, signals deferred while recording.

The journal itself (JSON lines, torn-line tolerant, repaired before appending) is
:mod:`steerlens.journal`, a leaf helper the report reads too.
"""
