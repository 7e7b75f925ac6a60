// runtime.hpp, version.hpp and errors.hpp: thread count, ISA selection, caches, version,
// error types. Public API only. CTest also runs this with PYFROZEN_ISA=generic and
// OMP_NUM_THREADS=3 set, to check the start-up defaults those variables choose.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"

namespace {

using pyfrozen::Isa;

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string(v) == value;
}

// Runs first: the defaults are read when the library first needs them.
void startup_defaults() {
  const std::vector<Isa> isas = pyfrozen::supported_isas();
  if (env_is("PYFROZEN_ISA", "generic"))
    CHECK(pyfrozen::active_isa() == Isa::generic);
  else
    CHECK(pyfrozen::active_isa() == pyfrozen::detected_isa());
  CHECK(pyfrozen::get_num_threads() >= 1);
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp != nullptr && pyfrozen::has_openmp()) {
    // A plain count (not a nested list like "4,2") is the default thread count.
    const std::string s = omp;
    const bool plain = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
    if (plain)
      CHECK_MSG(pyfrozen::get_num_threads() == std::stoi(s),
                "OMP_NUM_THREADS=" + s + " but get_num_threads() = " +
                    std::to_string(pyfrozen::get_num_threads()));
  }
}

void threads() {
  const int saved = pyfrozen::get_num_threads();
  pyfrozen::set_num_threads(3);
  CHECK(pyfrozen::get_num_threads() == 3);
  pyfrozen::set_num_threads(1);
  CHECK(pyfrozen::get_num_threads() == 1);
  CHECK_THROWS(std::invalid_argument, pyfrozen::set_num_threads(0), "0");
  CHECK_THROWS(std::invalid_argument, pyfrozen::set_num_threads(-2), "-2");
  CHECK(pyfrozen::get_num_threads() == 1);  // a rejected value changes nothing

  // Unlike omp_set_num_threads, the setting holds for every calling thread.
  pyfrozen::set_num_threads(5);
  int seen = 0;
  std::thread([&] { seen = pyfrozen::get_num_threads(); }).join();
  CHECK_MSG(seen == 5, "another thread sees " + std::to_string(seen));
  std::thread([] { pyfrozen::set_num_threads(2); }).join();
  CHECK(pyfrozen::get_num_threads() == 2);

  // Bounded: 10^5 threads used to crash the next kernel inside libgomp.
  const int limit = pyfrozen::max_num_threads();
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  CHECK_MSG(limit >= 64 && limit >= 4 * hw, std::to_string(limit));
  CHECK_THROWS(std::invalid_argument, pyfrozen::set_num_threads(limit + 1),
               "n must be <= " + std::to_string(limit));
  CHECK_THROWS(std::invalid_argument, pyfrozen::set_num_threads(100000), "got 100000");
  CHECK(pyfrozen::get_num_threads() == 2);
  pyfrozen::set_num_threads(limit);
  CHECK(pyfrozen::get_num_threads() == limit);
  pyfrozen::set_num_threads(saved);
}

// A 2-thread GEMM of n x n ones: every element is n.
bool ones_gemm_ok() {
  const int n = 256;
  std::vector<float> a(n * n, 1.0f), c(n * n, 0.0f);
  pyfrozen::gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, a.data(), n, 0.0f, c.data(), n);
  return std::all_of(c.begin(), c.end(), [](float v) { return v == 256.0f; });
}

// fork() after a threaded kernel: the child's kernels used to wait forever for the
// parent's OpenMP workers. The child runs one kernel on its only thread and one on a
// thread it starts; alarm() turns a regression into a failed test instead of a hang.
void fork_after_threaded_kernel() {
  const int saved = pyfrozen::get_num_threads();
  pyfrozen::set_num_threads(2);
  CHECK(ones_gemm_ok());
  std::fflush(nullptr);
  const pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    alarm(60);
    bool fresh_thread_ok = false;
    const bool ok = ones_gemm_ok();
    std::thread([&] { fresh_thread_ok = ones_gemm_ok(); }).join();
    _exit(ok && fresh_thread_ok ? 0 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            WIFSIGNALED(status) ? "child killed by signal " + std::to_string(WTERMSIG(status))
                                : "child exit " + std::to_string(WEXITSTATUS(status)));
  CHECK(ones_gemm_ok());  // the parent's pool is untouched
  pyfrozen::set_num_threads(saved);
}

void isas() {
  const Isa saved = pyfrozen::active_isa();
  const std::vector<Isa> isas = pyfrozen::supported_isas();
  CHECK(!isas.empty() && isas.front() == Isa::generic);
  CHECK(std::find(isas.begin(), isas.end(), pyfrozen::detected_isa()) != isas.end());
  for (Isa isa : isas) {
    pyfrozen::set_active_isa(isa);
    CHECK_MSG(pyfrozen::active_isa() == isa, pyfrozen::isa_name(isa));
  }
  // Every path up to the detected one, in order; the ones above it are refused.
  CHECK(isas.back() == pyfrozen::detected_isa());
  CHECK(isas.size() == static_cast<size_t>(pyfrozen::detected_isa()) + 1);
  if (std::find(isas.begin(), isas.end(), Isa::avx2) == isas.end()) {
    CHECK_THROWS(std::invalid_argument, pyfrozen::set_active_isa(Isa::avx2), "avx2");
    CHECK(pyfrozen::active_isa() == isas.back());
  }
  if (std::find(isas.begin(), isas.end(), Isa::avx512) == isas.end()) {
    CHECK_THROWS(std::invalid_argument, pyfrozen::set_active_isa(Isa::avx512), "avx512");
    CHECK(pyfrozen::active_isa() == isas.back());
  }
  // A value outside the enum (a cast in C++) is refused, not stored.
  CHECK_THROWS(std::invalid_argument, pyfrozen::set_active_isa(static_cast<Isa>(7)), "unknown");
  CHECK_THROWS(std::invalid_argument, pyfrozen::set_active_isa(static_cast<Isa>(-1)), "unknown");
  CHECK(std::string(pyfrozen::isa_name(static_cast<Isa>(7))) == "unknown");
  pyfrozen::set_active_isa(saved);
  CHECK(pyfrozen::active_isa() == saved);

  // Names round-trip; anything else is rejected with the valid choices in the message.
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
    const std::string name = pyfrozen::isa_name(isa);
    CHECK_MSG(pyfrozen::parse_isa(name) == isa, name);
  }
  CHECK(std::string(pyfrozen::isa_name(Isa::generic)) == "generic");
  CHECK(std::string(pyfrozen::isa_name(Isa::avx2)) == "avx2");
  CHECK(std::string(pyfrozen::isa_name(Isa::avx512)) == "avx512");
  for (const char* bad : {"", "AVX2", "sse4", "generic ", "avx512f"}) {
    CHECK_THROWS(std::invalid_argument, pyfrozen::parse_isa(bad), "generic");
    CHECK_THROWS(std::invalid_argument, pyfrozen::parse_isa(bad), "avx2");
    CHECK_THROWS(std::invalid_argument, pyfrozen::parse_isa(bad), "avx512");
  }
}

void version() {
  const std::string v = pyfrozen::version();
  // The header and the loaded library come from the same build (the installed package).
  CHECK_MSG(v == PYFROZEN_VERSION_STRING, "library " + v + ", header " PYFROZEN_VERSION_STRING);
  const std::string parts = std::to_string(PYFROZEN_VERSION_MAJOR) + "." +
                            std::to_string(PYFROZEN_VERSION_MINOR) + "." +
                            std::to_string(PYFROZEN_VERSION_PATCH);
  CHECK_MSG(parts == PYFROZEN_VERSION_STRING, parts);
}

void caches() {
  const pyfrozen::CacheSizes cs = pyfrozen::cache_sizes();
  const std::string got = "l1d=" + std::to_string(cs.l1d) + " l2=" + std::to_string(cs.l2) +
                          " l3=" + std::to_string(cs.l3);
  std::printf("cache sizes: %s\n", got.c_str());
  CHECK_MSG(cs.l1d > 0 && cs.l2 > 0 && cs.l3 > 0, got);
  CHECK_MSG(cs.l1d <= cs.l2, got);
}

void errors() {
  // Thrown here and caught as the standard base: the typeinfo comes from the library.
  CHECK_THROWS(std::invalid_argument, throw pyfrozen::ShapeError("gemm: lda=1"), "lda=1");
  CHECK_THROWS(std::invalid_argument, throw pyfrozen::DTypeError("float16"), "float16");
  CHECK_THROWS(pyfrozen::ShapeError, throw pyfrozen::ShapeError("shape"), "shape");
  CHECK_THROWS(pyfrozen::DTypeError, throw pyfrozen::DTypeError("dtype"), "dtype");
}

}  // namespace

int main() {
  pyfrozen_test::run_section("startup_defaults", startup_defaults);
  pyfrozen_test::run_section("threads", threads);
  pyfrozen_test::run_section("fork_after_threaded_kernel", fork_after_threaded_kernel);
  pyfrozen_test::run_section("isas", isas);
  pyfrozen_test::run_section("version", version);
  pyfrozen_test::run_section("caches", caches);
  pyfrozen_test::run_section("errors", errors);
  return pyfrozen_test::summary();
}
