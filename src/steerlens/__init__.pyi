# Type stub for the lazily loaded public API (see __init__.py).
from steerlens.api import compare as compare
from steerlens.api import morph as morph
from steerlens.api import morph_batch as morph_batch
from steerlens.config import MorphConfig as MorphConfig
from steerlens.data.images import load_image as load_image
from steerlens.errors import SteerlensError as SteerlensError
from steerlens.models import load_model as load_model
from steerlens.models.base import Classifier as Classifier
from steerlens.result import FrameScore as FrameScore
from steerlens.result import MorphResult as MorphResult
from steerlens.transforms import make_transform as make_transform

__version__: str
__all__ = [
    "Classifier", "FrameScore", "MorphConfig", "MorphResult", "SteerlensError", "__version__",
    "compare", "load_image", "load_model", "make_transform", "morph", "morph_batch",
]
