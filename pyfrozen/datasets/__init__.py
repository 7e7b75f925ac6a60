"""Small data sets shipped inside pyfrozen, so examples and tests need no download."""

from pyfrozen.datasets.digits import Digits, load_digits
from pyfrozen.datasets.glyphs import Glyphs, load_glyphs

__all__ = ["Digits", "Glyphs", "load_digits", "load_glyphs"]
