"""The one resumable runs engine under ``steerlens batch`` and ``steerlens experiment``.

Modules, one job each:

- :mod:`~steerlens.runs.datasets`: the dataset registry (names, splits, ``NAME:PART:INDEX`` refs).
- :mod:`~steerlens.runs.judges`: scoring judges (independent classifiers) on morph endpoints.
- :mod:`~steerlens.runs.resume`: which chunks to run again, with which composition.
- :mod:`~steerlens.runs.executor`: run a function over tasks in this process or on Dask
  (``run(fn, tasks, on_submit)``); batch chunks and experiment batches both go through it.
- :mod:`~steerlens.runs.scheduler`: check a ``--scheduler`` value before any work.
- :mod:`~steerlens.runs.files`: bounded non-blocking file reads, one-line text.

Not moved yet: the batch chunk worker (:mod:`steerlens.batch.worker`) and plan
(:mod:`steerlens.batch.plan`); each front end records its own results (batch: case folders and
a table; experiments: ``cases.jsonl`` and kept morphs).

The journal itself (JSON lines, torn-line tolerant, repaired before appending) is
:mod:`steerlens.journal`, a leaf helper the report reads too.
"""
