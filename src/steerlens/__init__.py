"""steerlens: phase-based extrapolation morphs for image classifiers (arXiv 2506.02300).

The public API is loaded lazily from the stub ``__init__.pyi`` (``lazy_loader``, as plenoptic
does), so ``import steerlens`` stays cheap: a name's module is imported on its first use. Every
name resolves to a function or class, never to a module (no module is named like a public
function). Modules inside the package import from the defining module, not from here, so the
import-linter contracts see every arrow.

Examples
--------
>>> import steerlens
>>> callable(steerlens.morph) and callable(steerlens.morph_batch)
True
>>> model = steerlens.load_model("efficientnet-lite0")                  # doctest: +SKIP
>>> result = steerlens.morph(model, "cat.jpg", "tiger cat")              # doctest: +SKIP
>>> print(result.summary()); result.save("out/cat")                      # doctest: +SKIP
"""

import lazy_loader as _lazy

# the thread policy's first CPU-use sample: by the time a job starts (after torch's import) there
# is a window to measure the other processes' load over (stdlib only, microseconds)
from steerlens import cpu_load as _cpu_load

del _cpu_load

__version__ = "0.1.0"

__getattr__, _, __all__ = _lazy.attach_stub(__name__, __file__)
__all__ += ["__version__"]
del _


def __dir__() -> list[str]:
    """Public names (loaded or not) and the module's own attributes."""
    return sorted(set(globals()) | set(__all__))
