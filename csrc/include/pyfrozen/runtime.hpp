#pragma once
// Library-wide run-time settings: thread count, instruction set, detected caches.
#include <cstdint>
#include <string>
#include <vector>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// Instruction-set paths a kernel can take. `generic` is portable C++ and always exists;
/// each later path needs what the one before it needs (avx512: AVX-512 F, VL, BW and
/// DQ besides AVX2 + FMA), so a CPU supports every path up to its detected one.
enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

/// Best path this CPU supports (detected once).
PYFROZEN_API Isa detected_isa();
/// Path the kernels take now. Starts as detected_isa(), or `generic` when the
/// environment variable PYFROZEN_ISA=generic is set at first use.
PYFROZEN_API Isa active_isa();
/// Forces a path. Throws std::invalid_argument if the CPU does not support it.
PYFROZEN_API void set_active_isa(Isa isa);
/// Paths this CPU can run, generic first.
PYFROZEN_API std::vector<Isa> supported_isas();
PYFROZEN_API const char* isa_name(Isa isa);
/// Parses "generic" / "avx2" / "avx512"; throws std::invalid_argument naming the valid choices.
PYFROZEN_API Isa parse_isa(const std::string& name);

/// Threads a kernel may use. Defaults to OpenMP's max threads (OMP_NUM_THREADS, clamped
/// to max_num_threads()). Unlike omp_set_num_threads, this holds for calls from every
/// thread. Exception: in a child process created by fork() after the forking thread ran
/// a threaded kernel, kernels called from that thread run on one thread (libgomp's
/// thread pool does not survive fork); threads the child starts later use this count.
/// Results are bit-identical run to run for a given thread count.
PYFROZEN_API int get_num_threads();
/// Throws std::invalid_argument for n < 1 or n > max_num_threads(), and
/// std::runtime_error when the system cannot start n - 1 worker threads now; the
/// setting is then unchanged.
PYFROZEN_API void set_num_threads(int n);
/// Largest count set_num_threads accepts: 4x the hardware threads, at least 64.
PYFROZEN_API int max_num_threads();
/// Whether the library was built with OpenMP (without it, kernels run on one thread).
PYFROZEN_API bool has_openmp();

/// Data-cache sizes in bytes per core (L3: total), detected at run time,
/// with conservative defaults where the OS does not say.
struct CacheSizes {
  std::int64_t l1d;
  std::int64_t l2;
  std::int64_t l3;
};
PYFROZEN_API CacheSizes cache_sizes();

}  // namespace pyfrozen
