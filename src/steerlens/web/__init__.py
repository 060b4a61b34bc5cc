"""See morphs: a self-contained HTML report (``steerlens report``) and a web app (``steerlens serve``).

Both render the same Jinja2 templates (``templates/macros.html``) from the same views
(:mod:`steerlens.web.views`), built from saved result folders (:mod:`steerlens.web.collect`).
The app's parts: :mod:`~steerlens.web.app` (routes), :mod:`~steerlens.web.runs` (per-run folders
with expiry), :mod:`~steerlens.web.jobs` (one run at a time per model),
:mod:`~steerlens.web.uploads` (size and pixel limits).
"""
