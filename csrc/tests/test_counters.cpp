// counters.hpp: per-kernel call counters, by kernel and pass, from several threads.
#include <string>
#include <thread>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"

namespace {

using pyfrozen::Pass;

const pyfrozen::KernelCount* find(const std::vector<pyfrozen::KernelCount>& counts,
                                  const std::string& kernel, Pass pass) {
  for (const auto& c : counts)
    if (c.kernel == kernel && c.pass == pass) return &c;
  return nullptr;
}

void counts_by_kernel_and_pass() {
  pyfrozen::reset_kernel_counts();
  CHECK(pyfrozen::kernel_counts().empty());
  pyfrozen::count_kernel("conv2d", Pass::forward, 100);
  pyfrozen::count_kernel("conv2d", Pass::forward, 50);
  pyfrozen::count_kernel("conv2d", Pass::backward_weight, 7);
  const auto counts = pyfrozen::kernel_counts();
  CHECK(counts.size() == 2);
  const auto* fwd = find(counts, "conv2d", Pass::forward);
  CHECK(fwd != nullptr && fwd->calls == 2 && fwd->work == 150);
  const auto* bw = find(counts, "conv2d", Pass::backward_weight);
  CHECK(bw != nullptr && bw->calls == 1 && bw->work == 7);
  CHECK(find(counts, "conv2d", Pass::backward_input) == nullptr);
  pyfrozen::reset_kernel_counts();
  CHECK(pyfrozen::kernel_counts().empty());
}

void counting_is_thread_safe() {
  pyfrozen::reset_kernel_counts();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (int i = 0; i < 10000; ++i) pyfrozen::count_kernel("k", Pass::update, 1);
    });
  for (auto& t : threads) t.join();
  const auto counts = pyfrozen::kernel_counts();  // find() points into it: keep it alive
  const auto* c = find(counts, "k", Pass::update);
  CHECK(c != nullptr && c->calls == 40000 && c->work == 40000);
  pyfrozen::reset_kernel_counts();
}

void pass_names() {
  CHECK(std::string(pyfrozen::pass_name(Pass::forward)) == "forward");
  CHECK(std::string(pyfrozen::pass_name(Pass::backward_input)) == "backward_input");
  CHECK(std::string(pyfrozen::pass_name(Pass::backward_weight)) == "backward_weight");
  CHECK(std::string(pyfrozen::pass_name(Pass::backward_bias)) == "backward_bias");
  CHECK(std::string(pyfrozen::pass_name(Pass::update)) == "update");
}

}  // namespace

int main() {
  pyfrozen_test::run_section("counts", counts_by_kernel_and_pass);
  pyfrozen_test::run_section("threads", counting_is_thread_safe);
  pyfrozen_test::run_section("names", pass_names);
  return pyfrozen_test::summary();
}
