#include "pyfrozen/activation.hpp"

namespace pyfrozen {

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
    case Activation::relu6: return "relu6";
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
  }
  return "unknown";
}

}  // namespace pyfrozen
