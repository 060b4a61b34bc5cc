# The public API, read at run time by lazy_loader.attach_stub (see __init__.py) and by type
# checkers. Only relative `from .module import name` lines: each adds `name`, imported from
# `steerlens.module` on first use.
from .api import compare, morph, morph_batch
from .config import MorphConfig
from .data.images import load_image
from .errors import SteerlensError
from .models import load_model
from .models.base import Classifier
from .result import FrameScore, MorphResult
from .transforms import make_transform

__version__: str
__all__ = [
    "Classifier", "FrameScore", "MorphConfig", "MorphResult", "SteerlensError", "__version__",
    "compare", "load_image", "load_model", "make_transform", "morph", "morph_batch",
]
