#include "pyfrozen/counters.hpp"

#include <map>
#include <mutex>
#include <utility>

namespace pyfrozen {
namespace {

struct Totals {
  std::int64_t calls = 0;
  std::int64_t work = 0;
};

// Process-wide on purpose: the counters prove which kernels a training step ran, and a
// step's kernels run on whichever threads call them (Python threads, with the GIL
// released), so per-thread counters would miss calls. A mutex is enough: counting
// happens once per kernel call (microseconds of work).
struct Registry {
  std::mutex mutex;
  std::map<std::pair<std::string, int>, Totals> totals;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

const char* pass_name(Pass pass) {
  switch (pass) {
    case Pass::forward: return "forward";
    case Pass::backward_input: return "backward_input";
    case Pass::backward_weight: return "backward_weight";
    case Pass::backward_bias: return "backward_bias";
    case Pass::update: return "update";
  }
  return "unknown";
}

void count_kernel(const char* kernel, Pass pass, std::int64_t work) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Totals& t = r.totals[{kernel, static_cast<int>(pass)}];
  t.calls += 1;
  t.work += work;
}

std::vector<KernelCount> kernel_counts() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<KernelCount> out;
  out.reserve(r.totals.size());
  for (const auto& [key, t] : r.totals)
    out.push_back({key.first, static_cast<Pass>(key.second), t.calls, t.work});
  return out;
}

void reset_kernel_counts() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.totals.clear();
}

}  // namespace pyfrozen
