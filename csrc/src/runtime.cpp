// Instruction-set selection and cache detection (threads: threads.cpp).
//
// Why process-wide state: the active ISA is one atomic for the process because a test
// or user switches paths once for every kernel and every calling thread (per-thread
// settings would leave OpenMP workers and other Python threads on the old path); the
// detected ISA and cache sizes describe the machine, so they are computed once.
#include "pyfrozen/runtime.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <iterator>
#include <string>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace pyfrozen {
namespace {

Isa best_cpu_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // required when called during static initialization
  // libgcc also checks that the OS saves the ymm / zmm state (XGETBV) before reporting
  // avx2 or an avx512 feature.
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return Isa::generic;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  return avx512 ? Isa::avx512 : Isa::avx2;
#else
  return Isa::generic;
#endif
}

constexpr const char* kIsaNames[] = {"generic", "avx2", "avx512"};

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

std::int64_t sysconf_or(int name, std::int64_t fallback) {
  long v = sysconf(name);
  return v > 0 ? static_cast<std::int64_t>(v) : fallback;
}

// Size in bytes of cpu0's data or unified cache of `level` as the kernel reports it
// in sysfs ("32K", "1024K", "32768K"), or 0 when it does not say.
std::int64_t sysfs_cache_size(int level) {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    std::ifstream level_file(dir + "/level"), type_file(dir + "/type"), size_file(dir + "/size");
    int got_level = 0;
    std::string type, size;
    if (!(level_file >> got_level) || !(type_file >> type) || !(size_file >> size)) return 0;
    if (got_level != level || type == "Instruction") continue;
    std::int64_t value = 0;
    size_t i = 0;
    for (; i < size.size() && std::isdigit(static_cast<unsigned char>(size[i])); ++i)
      value = value * 10 + (size[i] - '0');
    const char unit = i < size.size() ? size[i] : 'B';
    return unit == 'K' ? value << 10 : unit == 'M' ? value << 20 : value;
  }
  return 0;
}

// sysfs first: some VMs give glibc a wrong CPUID leaf (an EPYC with 32 MiB of L3
// reported 320 MiB through sysconf).
std::int64_t cache_size(int level, int sysconf_name, std::int64_t fallback) {
  const std::int64_t from_sysfs = sysfs_cache_size(level);
  return from_sysfs > 0 ? from_sysfs : sysconf_or(sysconf_name, fallback);
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = best_cpu_isa();
  return isa;
}

Isa active_isa() { return static_cast<Isa>(active_isa_slot().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  const int i = static_cast<int>(isa);
  if (i < 0 || i >= static_cast<int>(std::size(kIsaNames)))
    throw std::invalid_argument("set_isa: unknown ISA value " + std::to_string(i));
  if (i > static_cast<int>(detected_isa()))
    throw std::invalid_argument(std::string("set_isa: this CPU does not support ") +
                                (isa == Isa::avx2 ? "avx2+fma" : "avx512 (f, vl, bw, dq)"));
  active_isa_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(detected_isa()); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

const char* isa_name(Isa isa) {
  const int i = static_cast<int>(isa);
  return i >= 0 && i < static_cast<int>(std::size(kIsaNames)) ? kIsaNames[i] : "unknown";
}

Isa parse_isa(const std::string& name) {
  for (int i = 0; i < static_cast<int>(std::size(kIsaNames)); ++i)
    if (name == kIsaNames[i]) return static_cast<Isa>(i);
  throw std::invalid_argument("unknown ISA '" + name +
                              "'; expected 'generic', 'avx2' or 'avx512'");
}

CacheSizes cache_sizes() {
  // Defaults (Zen 2 sizes) where neither sysfs nor glibc says.
  static const CacheSizes sizes{cache_size(1, _SC_LEVEL1_DCACHE_SIZE, 32 << 10),
                                cache_size(2, _SC_LEVEL2_CACHE_SIZE, 512 << 10),
                                cache_size(3, _SC_LEVEL3_CACHE_SIZE, 16 << 20)};
  return sizes;
}

}  // namespace pyfrozen
