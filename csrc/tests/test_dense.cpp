// Dense helpers against naive loops in double, float and double, every ISA path (the
// limited backward goes through gemm), 1 and 2 threads: column/row-limited weight
// gradients (other elements untouched, counters show the reduced work), gather and
// scatter-add (duplicates, frozen rows, thread-count independence), argument checks.
// Public API only: this file is also built against the installed package.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"
#include "rng.hpp"

namespace {

using i64 = std::int64_t;
using Index = std::vector<i64>;

using pyfrozen_test::Rng;

template <typename T>
std::vector<T> random(i64 count, Rng& rng) {
  std::vector<T> v(static_cast<size_t>(count));
  for (auto& x : v) x = static_cast<T>(rng.next());
  return v;
}

constexpr double kSentinel = -1234.5;

std::string where() {
  return std::string(" isa=") + pyfrozen::isa_name(pyfrozen::active_isa()) +
         " threads=" + std::to_string(pyfrozen::get_num_threads());
}

// Index lists: all, none, every other (packed path), two long runs (gemm per run), last.
std::vector<Index> index_sets(i64 size) {
  std::vector<Index> sets(5);
  for (i64 i = 0; i < size; ++i) sets[0].push_back(i);
  for (i64 i = 0; i < size; i += 2) sets[2].push_back(i);
  for (i64 i = 0; i < size; ++i)
    if (i % 40 < 30) sets[3].push_back(i);
  if (size > 0) sets[4].push_back(size - 1);
  return sets;
}

template <typename T>
void check_limited(i64 n, i64 in, i64 out, bool by_rows, bool accumulate) {
  Rng rng(static_cast<std::uint64_t>(n * 131 + in * 7 + out));
  const std::vector<T> x = random<T>(n * in, rng), dy = random<T>(n * out, rng);
  const double tol = (sizeof(T) == 4 ? 1e-5 : 1e-13) * std::sqrt(static_cast<double>(n + 1));
  for (const Index& idx : index_sets(by_rows ? in : out)) {
    std::vector<T> dw(static_cast<size_t>(in * out), static_cast<T>(kSentinel));
    const T base = accumulate ? static_cast<T>(kSentinel) : T(0);
    if (by_rows)
      pyfrozen::dense_backward_weight_rows<T>(n, in, out, x.data(), dy.data(), dw.data(),
                                              idx.data(), static_cast<i64>(idx.size()), accumulate);
    else
      pyfrozen::dense_backward_weight_columns<T>(n, in, out, x.data(), dy.data(), dw.data(),
                                                 idx.data(), static_cast<i64>(idx.size()),
                                                 accumulate);
    std::vector<char> listed(static_cast<size_t>(by_rows ? in : out), 0);
    for (i64 k : idx) listed[static_cast<size_t>(k)] = 1;
    bool ok = true;
    for (i64 i = 0; i < in && ok; ++i)
      for (i64 j = 0; j < out && ok; ++j) {
        const double got = dw[static_cast<size_t>(i * out + j)];
        if (!listed[static_cast<size_t>(by_rows ? i : j)]) {
          ok = got == kSentinel;
          continue;
        }
        double want = base;
        for (i64 r = 0; r < n; ++r)
          want += static_cast<double>(x[static_cast<size_t>(r * in + i)]) *
                  dy[static_cast<size_t>(r * out + j)];
        ok = std::fabs(got - want) <= tol * (1 + std::fabs(want));
      }
    CHECK_MSG(ok, std::string(by_rows ? "rows" : "columns") + " n=" + std::to_string(n) +
                      " in=" + std::to_string(in) + " out=" + std::to_string(out) +
                      " listed=" + std::to_string(idx.size()) + where());
  }
}

template <typename T>
void check_embedding(i64 v, i64 d, i64 n) {
  Rng rng(static_cast<std::uint64_t>(v * 17 + d + n));
  const std::vector<T> table = random<T>(v * d, rng), grad = random<T>(n * d, rng);
  Index idx(static_cast<size_t>(n));
  for (auto& i : idx) i = rng.below(v);
  if (n > 3) idx[0] = idx[1] = idx[2];  // duplicates
  std::vector<T> out(static_cast<size_t>(n * d), T(0));
  pyfrozen::gather_rows<T>(v, d, table.data(), idx.data(), n, out.data());
  bool ok = true;
  for (i64 i = 0; i < n; ++i)
    ok = ok && std::memcmp(&out[static_cast<size_t>(i * d)], &table[static_cast<size_t>(idx[i] * d)],
                           static_cast<size_t>(d) * sizeof(T)) == 0;
  CHECK_MSG(ok, "gather v=" + std::to_string(v) + " d=" + std::to_string(d) + where());

  std::vector<std::uint8_t> frozen(static_cast<size_t>(v), 0);
  for (i64 r = 0; r < v; r += 3) frozen[static_cast<size_t>(r)] = 1;
  std::vector<T> dtable = table;
  pyfrozen::scatter_add_rows<T>(v, d, grad.data(), idx.data(), n, dtable.data(), frozen.data());
  std::vector<T> want = table;  // in index order, in T: the kernel's order exactly
  for (i64 i = 0; i < n; ++i)
    if (!frozen[static_cast<size_t>(idx[i])])
      for (i64 c = 0; c < d; ++c)
        want[static_cast<size_t>(idx[i] * d + c)] += grad[static_cast<size_t>(i * d + c)];
  CHECK_MSG(std::memcmp(dtable.data(), want.data(), want.size() * sizeof(T)) == 0,
            "scatter_add v=" + std::to_string(v) + " d=" + std::to_string(d) + where());
}

template <typename T>
void check_errors() {
  std::vector<T> x(12, T(1)), dy(20, T(1)), dw(15, T(0));
  const Index bad = {0, 5}, unsorted = {2, 1};
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::dense_backward_weight_columns<T>(4, 3, 5, x.data(), dy.data(), dw.data(),
                                                          bad.data(), 2),
               "dense_backward_weight: columns[1] = 5 is out of range for out = 5");
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::dense_backward_weight_rows<T>(4, 3, 5, x.data(), dy.data(), dw.data(),
                                                       unsorted.data(), 2),
               "rows must be strictly increasing");
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::dense_backward_weight_rows<T>(4, 3, 5, x.data(), dy.data(), dy.data(),
                                                       unsorted.data(), 0),
               "dw overlaps dy");
  const Index idx = {1, 7};
  std::vector<T> table(20, T(0)), out(8, T(0));
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::gather_rows<T>(5, 4, table.data(), idx.data(), 2, out.data()),
               "gather_rows: index 7 at indices[1] is out of range for a table of 5 rows");
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::scatter_add_rows<T>(5, 4, out.data(), idx.data(), 2, table.data()),
               "scatter_add_rows: index 7 at indices[1]");
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::gather_rows<T>(-1, 4, table.data(), idx.data(), 2, out.data()),
               "gather_rows: v must be >= 0, got -1");
  CHECK(table == std::vector<T>(20, T(0)) && out == std::vector<T>(8, T(0)));
}

void check_counters() {
  std::vector<float> x(8 * 6, 1.f), dy(8 * 10, 1.f), dw(6 * 10, 0.f);
  const Index cols = {2, 3, 7};
  pyfrozen::reset_kernel_counts();
  pyfrozen::dense_backward_weight_columns<float>(8, 6, 10, x.data(), dy.data(), dw.data(),
                                                 cols.data(), 3);
  const auto counts = pyfrozen::kernel_counts();
  CHECK(counts.size() == 1 && counts[0].kernel == "dense" &&
        counts[0].pass == pyfrozen::Pass::backward_weight && counts[0].work == 8 * 6 * 3);
}

template <typename T>
void all_for_type() {
  for (pyfrozen::Isa isa : pyfrozen::supported_isas())
    for (int threads : {1, 2}) {
      pyfrozen::set_active_isa(isa);
      pyfrozen::set_num_threads(threads);
      for (bool by_rows : {false, true})
        for (bool acc : {false, true}) {
          check_limited<T>(1, 1, 1, by_rows, acc);
          check_limited<T>(0, 5, 7, by_rows, acc);
          check_limited<T>(13, 9, 70, by_rows, acc);
          check_limited<T>(13, 70, 9, by_rows, acc);
        }
      check_limited<T>(200, 80, 90, false, false);  // enough flops for two threads
      check_embedding<T>(7, 3, 0);
      check_embedding<T>(50, 5, 9000);     // rows split across threads
      check_embedding<T>(20, 200, 400);    // column blocks split across threads
    }
  check_errors<T>();
}

}  // namespace

int main() {
  const pyfrozen_test::RuntimeRestore restore;
  pyfrozen_test::run_section("float", [] { all_for_type<float>(); });
  pyfrozen_test::run_section("double", [] { all_for_type<double>(); });
  pyfrozen_test::run_section("counters", check_counters);
  return pyfrozen_test::summary();
}
