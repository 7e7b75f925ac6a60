#include "pyfrozen/runtime.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyfrozen {
namespace {

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // required when called during static initialization
  // libgcc also checks that the OS saves the ymm state (XGETBV) before reporting avx2.
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

Isa initial_isa() {
  const char* env = std::getenv("PYFROZEN_ISA");
  // Only a request for the fallback is honoured here; anything else (or an
  // unsupported path) starts from the detected ISA. Python validates the variable.
  if (env != nullptr && std::strcmp(env, "generic") == 0) return Isa::generic;
  return detected_isa();
}

std::atomic<int>& active_isa_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}

std::atomic<int>& threads_slot() {
  static std::atomic<int> slot{default_threads()};
  return slot;
}

std::int64_t sysconf_or(int name, std::int64_t fallback) {
  long v = sysconf(name);
  return v > 0 ? static_cast<std::int64_t>(v) : fallback;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = cpu_has_avx2_fma() ? Isa::avx2 : Isa::generic;
  return isa;
}

Isa active_isa() { return static_cast<Isa>(active_isa_slot().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  if (isa == Isa::avx2 && detected_isa() != Isa::avx2)
    throw std::invalid_argument("set_isa: this CPU does not support avx2+fma");
  active_isa_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out{Isa::generic};
  if (detected_isa() == Isa::avx2) out.push_back(Isa::avx2);
  return out;
}

const char* isa_name(Isa isa) { return isa == Isa::avx2 ? "avx2" : "generic"; }

Isa parse_isa(const std::string& name) {
  if (name == "generic") return Isa::generic;
  if (name == "avx2") return Isa::avx2;
  throw std::invalid_argument("unknown ISA '" + name + "'; expected 'generic' or 'avx2'");
}

int get_num_threads() { return threads_slot().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1)
    throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
  threads_slot().store(n, std::memory_order_relaxed);
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

CacheSizes cache_sizes() {
  // glibc reads these from CPUID; some VMs report 0, hence the defaults (Zen 2 sizes).
  static const CacheSizes sizes{sysconf_or(_SC_LEVEL1_DCACHE_SIZE, 32 << 10),
                                sysconf_or(_SC_LEVEL2_CACHE_SIZE, 512 << 10),
                                sysconf_or(_SC_LEVEL3_CACHE_SIZE, 16 << 20)};
  return sizes;
}

}  // namespace pyfrozen
