# The public API, read at run time by lazy_loader.attach_stub (see __init__.py) and by type
# checkers. Only relative `from .module import name` lines: each adds `name`, imported from
# `steerlens.module` on first use.
from .api import compare, morph, morph_batch
from .comparison import Comparison
from .config import MorphConfig
from .data.images import load_image
from .errors import SteerlensError
from .models import load_model
from .models.base import Classifier
from .notebook import BatchTable, load_batch, show
from .result import FrameScore, MorphResult
from .transforms import make_transform
from .verdict import Verdict

__version__: str
__all__ = [
    "BatchTable", "Classifier", "Comparison", "FrameScore", "MorphConfig", "MorphResult",
    "SteerlensError", "Verdict", "__version__", "compare", "load_batch", "load_image",
    "load_model", "make_transform", "morph", "morph_batch", "show",
]
