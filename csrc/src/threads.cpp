// The library-wide thread count, its upper bound, and what happens to it across fork().
//
// Why process-wide state: OpenMP's own setting (omp_set_num_threads) belongs to the
// calling thread, but kernels are called from any Python thread (the GIL is released),
// so the count users set must hold for every caller: one atomic for the process. The
// fork handler is process-wide by nature (pthread_atfork). The only per-thread state is
// whether this thread owns a libgomp thread pool that a fork left without its workers.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "parallel.hpp"
#include "pyfrozen/runtime.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyfrozen {
namespace {

// Upper bound for set_num_threads. Past a few threads per core a kernel only loses
// (context switches, smaller tiles), and libgomp puts per-thread team data on the
// caller's stack and gives each worker its own stack (8 MiB of address space by
// default): 10^5 threads crashed the process. 4x the hardware threads leaves room for
// over-subscription experiments; the floor of 64 keeps tests that ask for a few more
// threads than a small machine has working everywhere.
int thread_limit() {
  static const int limit = std::max(64, 4 * static_cast<int>(std::thread::hardware_concurrency()));
  return limit;
}

int default_threads() {
#ifdef _OPENMP
  // Honours OMP_NUM_THREADS, clamped to the bound (an environment variable cannot be
  // refused with an exception at import time).
  return std::clamp(omp_get_max_threads(), 1, thread_limit());
#else
  return 1;
#endif
}

std::atomic<int>& threads_slot() {
  static std::atomic<int> slot{default_threads()};
  return slot;
}

// ---- thread-creation probe ---------------------------------------------------------
// libgomp ends the process (gomp_fatal -> exit) when pthread_create fails while it
// starts a team, and offers no hook to refuse instead. So set_num_threads first starts
// n - 1 threads of its own, all alive at once as a team's workers would be, with the
// same default attributes libgomp uses; if the system refuses (RLIMIT_NPROC, memory for
// the stacks), set_num_threads throws and the count stays as it was. This cannot
// guarantee a later start (limits can change), but it catches a count the machine
// cannot run at the moment it is chosen.
struct ProbeGate {
  pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
};

void* probe_worker(void* arg) {
  auto* gate = static_cast<ProbeGate*>(arg);
  pthread_mutex_lock(&gate->mutex);  // blocks until every probe thread exists
  pthread_mutex_unlock(&gate->mutex);
  return nullptr;
}

void probe_thread_creation(int n) {
  ProbeGate gate;
  pthread_mutex_lock(&gate.mutex);
  std::vector<pthread_t> started;
  started.reserve(static_cast<size_t>(n));
  int err = 0;
  for (int i = 1; i < n && err == 0; ++i) {
    pthread_t t;
    err = pthread_create(&t, nullptr, probe_worker, &gate);
    if (err == 0) started.push_back(t);
  }
  pthread_mutex_unlock(&gate.mutex);
  for (pthread_t t : started) pthread_join(t, nullptr);
  if (err != 0)
    throw std::runtime_error("set_num_threads: the system could not start " +
                             std::to_string(n - 1) + " worker threads (pthread_create: " +
                             std::strerror(err) + " after " + std::to_string(started.size()) +
                             "); choose a smaller count");
}

// ---- fork ---------------------------------------------------------------------------
// libgomp keeps a thread's team workers in a pool owned by that thread. fork() copies
// only the calling thread, so in the child that thread's pool lists workers that no
// longer exist, and its next team waits for them forever. The child handler marks the
// forking thread (the child's only thread) if it had started a team: its kernels then
// run on one thread. Threads the child creates later own no pool and start a fresh one.
thread_local bool t_started_team = false;
thread_local bool t_pool_lost = false;

void after_fork_in_child() { t_pool_lost = t_started_team; }

#ifdef _OPENMP
const int kForkHandler = pthread_atfork(nullptr, nullptr, after_fork_in_child);
#endif

}  // namespace

namespace detail {

int usable_threads() { return t_pool_lost ? 1 : get_num_threads(); }

void note_team_started() { t_started_team = true; }

}  // namespace detail

int get_num_threads() { return threads_slot().load(std::memory_order_relaxed); }

int max_num_threads() { return thread_limit(); }

void set_num_threads(int n) {
  if (n < 1)
    throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
  if (n > thread_limit())
    throw std::invalid_argument("set_num_threads: n must be <= " + std::to_string(thread_limit()) +
                                " (max_num_threads(): 4x the " +
                                std::to_string(std::thread::hardware_concurrency()) +
                                " hardware threads, at least 64), got " + std::to_string(n));
#ifdef _OPENMP
  if (n > 1) probe_thread_creation(n);
#endif
  threads_slot().store(n, std::memory_order_relaxed);
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace pyfrozen
