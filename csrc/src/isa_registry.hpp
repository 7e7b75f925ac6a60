#pragma once
// Private: which kernels each ISA path runs, one table per kernel family. The choice
// of a path is written here once; a new path is a new Isa value and one more column in
// Paths. A family without kernels of its own for a path runs the path below it (every
// CPU with AVX-512 has AVX2), so adding a path touches only the families that gain.
#include <type_traits>

#include "pyfrozen/runtime.hpp"

namespace pyfrozen::detail {

/// A kernel family's tables: `Kernels<T>` (a struct of function pointers and tile
/// sizes), returned for each path and element type by a function defined in that
/// path's source file (the AVX2 and AVX-512 ones are the only files built with ISA flags).
template <template <typename> class Kernels>
struct IsaRegistry {
  template <typename T>
  struct Paths {
    Kernels<T> (*generic)();  // portable scalar code: every CPU, and the tests' oracle
    Kernels<T> (*avx2)();     // AVX2 + FMA
    Kernels<T> (*avx512)() = nullptr;  // AVX-512 F/VL/BW/DQ; null: the AVX2 kernels
  };
  Paths<float> f32;
  Paths<double> f64;

  /// The kernels `isa` runs for element type T.
  template <typename T>
  Kernels<T> get(Isa isa) const {
    const Paths<T>& paths = by_type<T>();
    switch (isa) {
      case Isa::avx512:
        if (paths.avx512 != nullptr) return paths.avx512();
        return paths.avx2();
      case Isa::avx2:
        return paths.avx2();
      case Isa::generic:
        break;
    }
    return paths.generic();
  }

  /// The kernels of the path the calling code takes now (active_isa()).
  template <typename T>
  Kernels<T> active() const {
    return get<T>(active_isa());
  }

 private:
  template <typename T>
  const Paths<T>& by_type() const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "kernels exist for float and double");
    if constexpr (std::is_same_v<T, float>) {
      return f32;
    } else {
      return f64;
    }
  }
};

}  // namespace pyfrozen::detail
