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

using TotalsMap = std::map<std::pair<std::string, int>, Totals>;

// The totals are process-wide on purpose: they prove which kernels a training step ran,
// whichever threads called them (Python threads, with the GIL released). A mutex is
// enough: counting happens once per kernel call (microseconds of work). Each calling
// thread keeps its own totals beside them, for traces (thread_kernel_counts).
struct Registry {
  std::mutex mutex;
  TotalsMap totals;
};

Registry& registry() {
  static Registry r;
  return r;
}

// Each thread's own totals, read only by that thread (no lock): kernels count from the
// thread that called them, never from OpenMP workers.
thread_local TotalsMap t_totals;

void add(TotalsMap& totals, const char* kernel, Pass pass, std::int64_t work) {
  Totals& t = totals[{kernel, static_cast<int>(pass)}];
  t.calls += 1;
  t.work += work;
}

std::vector<KernelCount> listed(const TotalsMap& totals) {
  std::vector<KernelCount> out;
  out.reserve(totals.size());
  for (const auto& [key, t] : totals)
    out.push_back({key.first, static_cast<Pass>(key.second), t.calls, t.work});
  return out;
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
  add(t_totals, kernel, pass, work);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  add(r.totals, kernel, pass, work);
}

std::vector<KernelCount> kernel_counts() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return listed(r.totals);
}

std::vector<KernelCount> thread_kernel_counts() { return listed(t_totals); }

void reset_kernel_counts() {
  t_totals.clear();
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.totals.clear();
}

}  // namespace pyfrozen
