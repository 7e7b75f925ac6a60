"""Models: functional ``Model(inputs, outputs)``, ``Sequential``, subclassed models."""

from pyfrozen.models.formats import load_model
from pyfrozen.models.model import Model
from pyfrozen.models.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]
