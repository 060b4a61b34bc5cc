"""Blinded human rating of morphs: ``steerlens rate``.

- :mod:`~steerlens.rating.items`: the morphs of saved results (``morph``, ``compare``, ``batch``,
  ``experiment``), read through the report's confined reader;
- :mod:`~steerlens.rating.order`: a seeded order in which no source appears twice in a row;
- :mod:`~steerlens.rating.page`: the self-contained rating page (opaque ids only) and its key;
- :mod:`~steerlens.rating.tabulate`: rates with source-bootstrap intervals, agreement, attention
  checks, ``ratings.md`` and ``disagreements.html``;
- :mod:`~steerlens.rating.agreement`: Cohen's and Fleiss' kappa.
"""
