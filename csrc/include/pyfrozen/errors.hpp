#pragma once
#include <stdexcept>
#include <string>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// Thrown when arguments have incompatible shapes, leading dimensions or sizes.
/// Derives from std::invalid_argument, so pybind11 turns it into ValueError.
class PYFROZEN_API ShapeError : public std::invalid_argument {
 public:
  explicit ShapeError(const std::string& what);
  ~ShapeError() override;  // out of line: anchors the typeinfo in the shared library
};

/// Thrown for an unsupported or mismatched element type (mapped to TypeError).
class PYFROZEN_API DTypeError : public std::invalid_argument {
 public:
  explicit DTypeError(const std::string& what);
  ~DTypeError() override;
};

}  // namespace pyfrozen
