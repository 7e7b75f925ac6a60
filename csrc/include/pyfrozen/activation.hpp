#pragma once
// Activations the kernels apply (fused into conv / bias epilogues or standalone).
#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// Element-wise activation. relu6 is min(max(x, 0), 6) as in Keras / MobileNet.
enum class Activation { none = 0, relu, relu6, sigmoid, tanh };

/// "none", "relu", "relu6", "sigmoid", "tanh".
PYFROZEN_API const char* activation_name(Activation act);

}  // namespace pyfrozen
