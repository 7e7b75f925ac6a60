#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "array_cache.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/gemm.hpp"
#include "pyfrozen/runtime.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

std::vector<std::string> isa_names() {
  std::vector<std::string> out;
  for (Isa isa : supported_isas()) out.emplace_back(isa_name(isa));
  return out;
}

// {name: value} from a fixed list of integer fields.
py::dict int_dict(std::initializer_list<std::pair<const char*, std::int64_t>> fields) {
  py::dict d;
  for (const auto& [name, value] : fields) d[name] = value;
  return d;
}

py::dict blocking_dict(const std::string& dtype) {
  GemmBlocking bl{};
  if (dtype == "float32") bl = gemm_blocking<float>();
  else if (dtype == "float64") bl = gemm_blocking<double>();
  else throw py::type_error("gemm_blocking: dtype must be 'float32' or 'float64', got '" + dtype + "'");
  return int_dict({{"mr", bl.mr}, {"nr", bl.nr}, {"mc", bl.mc}, {"kc", bl.kc}, {"nc", bl.nc}});
}

}  // namespace

void init_runtime(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Threads every kernel may use from now on (any calling thread). ValueError unless "
        "1 <= n <= max_num_threads(); RuntimeError if the system cannot start that many "
        "threads now (the setting is then unchanged).");
  m.def("get_num_threads", &get_num_threads,
        "Threads a kernel may use. In a child forked after the forking thread ran a "
        "threaded kernel, that thread's kernels run on one thread (OpenMP's pool does not "
        "survive fork); threads started in the child use this count.");
  m.def("max_num_threads", &max_num_threads,
        "Largest count set_num_threads accepts: 4x the hardware threads, at least 64.");
  m.def("has_openmp", &has_openmp, "Whether the core was built with OpenMP.");
  m.def("set_isa", [](const std::string& name) { set_active_isa(parse_isa(name)); },
        py::arg("name"), "Force the instruction-set path: 'generic', 'avx2' or 'avx512'.");
  m.def("get_isa", [] { return std::string(isa_name(active_isa())); },
        "Instruction-set path the kernels take now.");
  m.def("detected_isa", [] { return std::string(isa_name(detected_isa())); },
        "Best instruction-set path this CPU supports.");
  m.def("supported_isas", &isa_names, "Paths this CPU can run, generic first.");
  m.def("cache_sizes", [] {
    const CacheSizes cs = cache_sizes();
    return int_dict({{"l1d", cs.l1d}, {"l2", cs.l2}, {"l3", cs.l3}});
  }, "Detected data-cache sizes in bytes (L1d and L2 per core, L3 total).");
  m.def("output_cache_info", [] {
    const CacheInfo c = cache_info();
    const auto i64 = [](auto v) { return static_cast<std::int64_t>(v); };
    return int_dict({{"held_bytes", i64(c.held_bytes)}, {"held_blocks", i64(c.held_blocks)},
                     {"limit_bytes", i64(c.limit_bytes)}, {"hits", i64(c.hits)},
                     {"misses", i64(c.misses)}});
  }, "The cache of freed kernel-output blocks: bytes and blocks held now, the limit, and "
     "how many large outputs (256 KiB and up) it served (hits) or allocated (misses).");
  m.def("set_output_cache_limit", [](std::int64_t bytes) {
    if (bytes < 0)
      throw py::value_error("set_output_cache_limit: bytes must be >= 0, got " +
                            std::to_string(bytes));
    set_cache_limit(static_cast<std::size_t>(bytes));
  }, py::arg("bytes"), "Bytes of freed output blocks kept for reuse (0: none); evicts to fit.");
  m.def("empty_output_cache", &empty_cache,
        "Returns every cached output block to the system (arrays in use are untouched).");
  m.def("_set_output_cache_poison", &set_cache_poison, py::arg("on"),
        "Test hook: reused output blocks are filled with NaN before a kernel gets them.");
  m.def("kernel_counts", [](bool this_thread) {
    py::list out;
    for (const KernelCount& c : this_thread ? thread_kernel_counts() : kernel_counts())
      out.append(py::make_tuple(c.kernel, pass_name(c.pass), c.calls, c.work));
    return out;
  }, py::arg("this_thread") = false,
        "Kernel calls since the last reset: (kernel, pass, calls, work) tuples; with "
        "this_thread=True only the calls made from the calling thread.");
  m.def("reset_kernel_counts", &reset_kernel_counts, "Zeroes the kernel call counters.");
  m.def("count_kernel", [](const std::string& kernel, const std::string& pass,
                           std::int64_t work) {
    static const char* const names[] = {"forward", "backward_input", "backward_weight",
                                        "backward_bias", "update"};
    for (int p = 0; p < 5; ++p)
      if (pass == names[p]) return count_kernel(kernel.c_str(), static_cast<Pass>(p), work);
    throw py::value_error("count_kernel: unknown pass '" + pass +
                          "' (forward, backward_input, backward_weight, backward_bias, update)");
  }, py::arg("kernel"), py::arg("pass_"), py::arg("work"),
        "Records one call of a kernel run outside the core (e.g. gemm for a dense layer's "
        "input gradient) so kernel_counts() and autograd traces see it.");

  m.def("gemm_blocking", &blocking_dict, py::arg("dtype") = "float32",
        "GEMM blocking on the active path: micro-tile mr x nr, cache blocks mc, kc, nc.");
}

}  // namespace pyfrozen::python
