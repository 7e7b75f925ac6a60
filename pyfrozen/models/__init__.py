"""Models: functional ``Model(inputs, outputs)``, ``Sequential``, subclassed models."""

from pyfrozen.models.model import Model
from pyfrozen.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
