#include "pyfrozen/errors.hpp"

#include "pyfrozen/version.hpp"

namespace pyfrozen {

ShapeError::ShapeError(const std::string& what) : std::invalid_argument(what) {}
ShapeError::~ShapeError() = default;

DTypeError::DTypeError(const std::string& what) : std::invalid_argument(what) {}
DTypeError::~DTypeError() = default;

const char* version() { return PYFROZEN_VERSION_STRING; }

}  // namespace pyfrozen
