#pragma once
// A tiny test harness for the C++ tests: no framework to fetch or install, so the
// tests build anywhere the installed pyfrozen package does (CI, a user's machine).
//
//   CHECK(cond)                       one check; prints the expression when it fails
//   CHECK_MSG(cond, detail)           same, with a std::string detail (shapes, values)
//   CHECK_THROWS(Error, expr, text)   expr throws Error (or a subclass) whose what()
//                                     contains text
//   run_section(name, fn)             runs fn; an unexpected exception counts as a failure
//   return summary();                 prints "N passed, N failed"; non-zero on failure
//   RuntimeRestore restore;           puts the ISA path and thread count back on exit
//
// The counters are atomic so helper threads may check too; keep output from the main
// thread where the order matters.
#include <atomic>
#include <cstdio>
#include <exception>
#include <string>

#include "pyfrozen/runtime.hpp"

namespace pyfrozen_test {

inline std::atomic<int>& passed_count() {
  static std::atomic<int> n{0};
  return n;
}
inline std::atomic<int>& failed_count() {
  static std::atomic<int> n{0};
  return n;
}

inline bool report(bool ok, const char* expr, const char* file, int line,
                   const std::string& detail = std::string()) {
  if (ok) {
    ++passed_count();
    return true;
  }
  ++failed_count();
  std::printf("%s:%d: FAILED: %s%s%s\n", file, line, expr, detail.empty() ? "" : "\n    ",
              detail.c_str());
  std::fflush(stdout);
  return false;
}

template <typename Error, typename Fn>
bool check_throws(Fn&& fn, const std::string& needle, const char* expr, const char* file,
                  int line) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string what = e.what();
    return report(what.find(needle) != std::string::npos, expr, file, line,
                  "message \"" + what + "\" does not contain \"" + needle + "\"");
  } catch (const std::exception& e) {
    return report(false, expr, file, line,
                  std::string("threw the wrong exception type: ") + e.what());
  } catch (...) {
    return report(false, expr, file, line, "threw a non-std exception");
  }
  return report(false, expr, file, line, "did not throw");
}

template <typename Fn>
void run_section(const char* name, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    report(false, name, __FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
  } catch (...) {
    report(false, name, __FILE__, __LINE__, "unexpected non-std exception");
  }
}

/// Prints the closing line and returns the process exit status. A test that ran no
/// check at all fails too: an empty run must not look like a passing one.
inline int summary() {
  const int passed = passed_count(), failed = failed_count();
  if (passed + failed == 0) std::printf("no checks ran\n");
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 && passed > 0 ? 0 : 1;
}

/// Tests switch ISA paths and thread counts; this puts the caller's settings back.
struct RuntimeRestore {
  pyfrozen::Isa isa = pyfrozen::active_isa();
  int threads = pyfrozen::get_num_threads();
  ~RuntimeRestore() {
    pyfrozen::set_active_isa(isa);
    pyfrozen::set_num_threads(threads);
  }
};

}  // namespace pyfrozen_test

#define CHECK(cond) ::pyfrozen_test::report(static_cast<bool>(cond), #cond, __FILE__, __LINE__)
#define CHECK_MSG(cond, detail) \
  ::pyfrozen_test::report(static_cast<bool>(cond), #cond, __FILE__, __LINE__, (detail))
#define CHECK_THROWS(Error, expr, needle)                                                  \
  ::pyfrozen_test::check_throws<Error>([&] { (void)(expr); }, (needle), #expr, __FILE__, \
                                       __LINE__)
