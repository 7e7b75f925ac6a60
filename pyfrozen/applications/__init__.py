"""Model builders with Keras's layer structure, names and shapes."""

from pyfrozen.applications import mobilenet
from pyfrozen.applications.mobilenet import MobileNet

__all__ = ["MobileNet", "mobilenet"]
