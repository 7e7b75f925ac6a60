#include "array_cache.hpp"

#include "arrays.hpp"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

#if __has_include(<sys/mman.h>)
#include <sys/mman.h>
#endif

namespace pyfrozen::python {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kHugePageHint = std::size_t{4} << 20;

// As numpy's own allocator does (plain malloc, so glibc's heap reuses and adapts as for
// any array; aligned_alloc's blocks went to fresh mappings: 1,148 faults a training step),
// including its transparent-huge-page hint for blocks of 4 MiB and up.
void advise_huge_pages(void* p, std::size_t bytes) {
#ifdef MADV_HUGEPAGE
  if (bytes < kHugePageHint) return;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t offset = (kPage - addr % kPage) % kPage;
  madvise(reinterpret_cast<void*>(addr + offset), bytes - offset, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

// A cached block serves a request of at least half its size: a network's outputs come
// in a few sizes, and a looser fit would keep memory that requests do not use.
constexpr std::size_t kMaxSlack = 2;
// The default limit (Zen 4, MobileNet 1.0 at 96x96, batch 32, glibc defaults, one process
// per setting): 32 MiB ends predict's faults (2,031 a call -> 1) for +3 MB of peak RSS;
// 16 MiB left 1,520; 64 MiB raised a training step's peak RSS by 24 MB (32 MiB: +2 MB).
constexpr std::size_t kDefaultLimit = std::size_t{32} << 20;

struct Block {
  void* ptr;
  std::size_t bytes;
};

// Freed output blocks, oldest first. Guarded by a mutex: outputs are made and freed with
// the GIL held, but the GIL is not this class's invariant to rely on (free-threaded
// Python, C++ callers of the bindings).
class Cache {
 public:
  // A block of at least `bytes` (rounded up to whole pages), cached when one fits.
  Block take(std::size_t bytes) {
    bytes = (bytes + kPage - 1) / kPage * kPage;
    {
      const std::lock_guard<std::mutex> lock(mu_);
      std::size_t best = free_.size();
      for (std::size_t i = 0; i < free_.size(); ++i) {
        const std::size_t b = free_[i].bytes;
        const bool fits = b >= bytes && b / kMaxSlack <= bytes;
        if (fits && (best == free_.size() || b < free_[best].bytes)) best = i;
      }
      if (best < free_.size()) {
        const Block out = free_[best];
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
        held_ -= out.bytes;
        ++hits_;
        if (poison_) std::memset(out.ptr, 0xff, out.bytes);  // NaN in float32 and float64
        return out;
      }
      ++misses_;
    }
    void* p = std::malloc(bytes);
    if (p == nullptr) throw std::bad_alloc();
    advise_huge_pages(p, bytes);
    return {p, bytes};
  }

  void give(Block b) {
    std::vector<void*> evicted;
    {
      const std::lock_guard<std::mutex> lock(mu_);
      if (b.bytes > limit_) {
        evicted.push_back(b.ptr);
      } else {
        free_.push_back(b);
        held_ += b.bytes;
        evict_to(limit_, evicted);
      }
    }
    for (void* p : evicted) std::free(p);  // outside the lock: munmap can take a while
  }

  CacheInfo info() {
    const std::lock_guard<std::mutex> lock(mu_);
    return {held_, free_.size(), limit_, hits_, misses_};
  }

  void set_limit(std::size_t bytes) {
    std::vector<void*> evicted;
    {
      const std::lock_guard<std::mutex> lock(mu_);
      limit_ = bytes;
      evict_to(limit_, evicted);
    }
    for (void* p : evicted) std::free(p);
  }

  void clear() {
    std::vector<void*> evicted;
    {
      const std::lock_guard<std::mutex> lock(mu_);
      evict_to(0, evicted);
    }
    for (void* p : evicted) std::free(p);
  }

  void set_poison(bool on) {
    const std::lock_guard<std::mutex> lock(mu_);
    poison_ = on;
  }

 private:
  // Oldest blocks out until at most `limit` bytes are held (their pointers to free).
  void evict_to(std::size_t limit, std::vector<void*>& out) {
    std::size_t n = 0;
    while (held_ > limit && n < free_.size()) {
      held_ -= free_[n].bytes;
      out.push_back(free_[n].ptr);
      ++n;
    }
    free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(n));
  }

  std::mutex mu_;
  std::vector<Block> free_;
  std::size_t held_ = 0, limit_ = kDefaultLimit;
  std::uint64_t hits_ = 0, misses_ = 0;
  bool poison_ = false;
};

// Process-wide on purpose: blocks freed by one model's call serve the next call of any
// model, in any thread. Never destroyed: arrays may outlive the interpreter's teardown
// of this module, and their capsules give blocks back to it.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

py::array new_array(const py::dtype& dtype, const std::vector<std::int64_t>& shape) {
  std::size_t bytes = static_cast<std::size_t>(dtype.itemsize());
  bool overflow = false;
  for (const std::int64_t d : shape)
    overflow |= d < 0 || __builtin_mul_overflow(bytes, static_cast<std::size_t>(d), &bytes);
  // Small, or a size numpy itself must refuse (with its own message).
  if (overflow || bytes < kCachedBytes) return py::array(dtype, shape);
  auto holder = std::make_unique<Block>();  // first: a throw here holds no block yet
  *holder = cache().take(bytes);
  // Until the capsule owns the block, a throw gives it back.
  struct GiveBack {
    Block* b;
    ~GiveBack() {
      if (b) cache().give(*b);
    }
  } guard{holder.get()};
  py::capsule owner(holder.get(), kBlockCapsuleName, [](void* p) {
    const std::unique_ptr<Block> b(static_cast<Block*>(p));
    cache().give(*b);
  });
  guard.b = nullptr;
  void* data = holder.release()->ptr;
  return py::array(dtype, shape, {}, data, owner);
}

py::array new_array_like(const py::array& like) {
  return new_array(like.dtype(), shape_of(like));
}

CacheInfo cache_info() { return cache().info(); }
void set_cache_limit(std::size_t bytes) { cache().set_limit(bytes); }
void empty_cache() { cache().clear(); }
void set_cache_poison(bool on) { cache().set_poison(on); }

}  // namespace pyfrozen::python
