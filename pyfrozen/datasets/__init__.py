"""Small data sets shipped inside pyfrozen, so examples and tests need no download."""

from pyfrozen.datasets.digits import Digits, load_digits

__all__ = ["Digits", "load_digits"]
