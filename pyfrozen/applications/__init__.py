"""Model builders with Keras's layer structure, names and shapes."""

from pyfrozen.applications import imagenet_utils, mobilenet, mobilenet_v2, resnet50
from pyfrozen.applications.mobilenet import MobileNet
from pyfrozen.applications.mobilenet_v2 import MobileNetV2
from pyfrozen.applications.resnet50 import ResNet50

__all__ = ["MobileNet", "MobileNetV2", "ResNet50", "imagenet_utils", "mobilenet",
           "mobilenet_v2", "resnet50"]
