// pyfrozen::gemm against naive triple loops accumulated in double, in float and double,
// for every transpose combination, odd and blocking-straddling shapes, strided leading
// dimensions and alpha/beta cases, on every ISA path this CPU runs, with 1 and 2 threads.
// Public API only: this file is also built against the installed package.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"
#include "rng.hpp"

namespace {

using i64 = std::int64_t;

// ---- inputs --------------------------------------------------------------------------

using pyfrozen_test::Rng;

// A row-major matrix with leading dimension ld >= cols in a buffer of exactly
// (rows - 1) * ld + cols elements, the least the gemm contract allows: AddressSanitizer
// then flags any read or write past the last element. The gaps between rows hold
// `gap`, so a kernel that reads them (NaN) or writes them (C's sentinel) is caught.
template <typename T>
struct Matrix {
  i64 rows, cols, ld;
  std::vector<T> data;

  Matrix(i64 r, i64 c, i64 pad, T gap)
      : rows(r), cols(c), ld(std::max<i64>(1, c) + pad),
        data(r > 0 && c > 0 ? static_cast<size_t>((r - 1) * ld + c) : 0, gap) {}
  T& at(i64 i, i64 j) { return data[static_cast<size_t>(i * ld + j)]; }
  T at(i64 i, i64 j) const { return data[static_cast<size_t>(i * ld + j)]; }
  T* ptr() { return data.data(); }
  const T* ptr() const { return data.data(); }
  void fill(Rng& rng) {
    for (i64 i = 0; i < rows; ++i)
      for (i64 j = 0; j < cols; ++j) at(i, j) = static_cast<T>(rng.next());
  }
};

template <typename T>
constexpr T kNaN = std::numeric_limits<T>::quiet_NaN();
template <typename T>
constexpr T kCGap = T(-1234.5);  // C's gaps must come back bit-identical

template <typename T>
const char* type_name() {
  return sizeof(T) == 4 ? "float" : "double";
}

// Rounding grows like sqrt(k) for random signs; the factor leaves a wide margin over
// epsilon (6e-8 / 1.1e-16) while still catching a single wrong or missing term.
template <typename T>
double tolerance(i64 k) {
  const double base = sizeof(T) == 4 ? 1e-5 : 1e-13;
  return base * std::sqrt(static_cast<double>(std::max<i64>(k, 1)));
}

// ---- one case ------------------------------------------------------------------------

struct Shape {
  i64 m, n, k;
  bool operator==(const Shape& o) const { return m == o.m && n == o.n && k == o.k; }
};

struct Scalars {
  double alpha, beta;
};

template <typename T>
struct Case {
  bool ta, tb;
  Shape s;
  Scalars ab;
  Matrix<T> a, b, c0;
  std::vector<double> ref, mag;  // expected C and the size of the terms that made it

  Case(bool ta_, bool tb_, Shape s_, Scalars ab_, i64 pad, std::uint64_t seed)
      : ta(ta_), tb(tb_), s(s_), ab(ab_),
        a(ta ? s.k : s.m, ta ? s.m : s.k, pad, kNaN<T>),
        b(tb ? s.n : s.k, tb ? s.k : s.n, pad == 0 ? 0 : pad + 2, kNaN<T>),
        c0(s.m, s.n, pad == 0 ? 0 : pad + 1, kCGap<T>) {
    Rng rng(seed);
    if (ab.alpha != 0) {  // alpha == 0: A and B stay NaN, so reading them would show
      a.fill(rng);
      b.fill(rng);
    }
    if (ab.beta != 0) {
      c0.fill(rng);
    } else {  // beta == 0: C must not be read, so NaN in it must not survive
      for (i64 i = 0; i < s.m; ++i)
        for (i64 j = 0; j < s.n; ++j) c0.at(i, j) = kNaN<T>;
    }
    compute_reference();
  }

  double op_a(i64 i, i64 p) const { return ta ? a.at(p, i) : a.at(i, p); }
  double op_b(i64 p, i64 j) const { return tb ? b.at(j, p) : b.at(p, j); }

  void compute_reference() {
    ref.assign(static_cast<size_t>(s.m * s.n), 0.0);
    mag.assign(ref.size(), 0.0);
    for (i64 i = 0; i < s.m; ++i)
      for (i64 j = 0; j < s.n; ++j) {
        double sum = 0, abs_sum = 0;
        if (ab.alpha != 0)
          for (i64 p = 0; p < s.k; ++p) {
            const double t = op_a(i, p) * op_b(p, j);
            sum += t;
            abs_sum += std::fabs(t);
          }
        double r = ab.alpha * sum, g = std::fabs(ab.alpha) * abs_sum;
        if (ab.beta != 0) {
          r += ab.beta * c0.at(i, j);
          g += std::fabs(ab.beta * c0.at(i, j));
        }
        ref[static_cast<size_t>(i * s.n + j)] = r;
        mag[static_cast<size_t>(i * s.n + j)] = g;
      }
  }

  std::string describe() const {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "gemm<%s> isa=%s threads=%d trans_a=%d trans_b=%d m=%lld n=%lld k=%lld "
                  "lda=%lld ldb=%lld ldc=%lld alpha=%g beta=%g",
                  type_name<T>(), pyfrozen::isa_name(pyfrozen::active_isa()),
                  pyfrozen::get_num_threads(), ta, tb, static_cast<long long>(s.m),
                  static_cast<long long>(s.n), static_cast<long long>(s.k),
                  static_cast<long long>(a.ld), static_cast<long long>(b.ld),
                  static_cast<long long>(c0.ld), ab.alpha, ab.beta);
    return buf;
  }

  /// Runs gemm on a copy of C0; returns "" when C matches, else what went wrong.
  std::string run() const {
    Matrix<T> c = c0;
    try {
      pyfrozen::gemm<T>(ta, tb, s.m, s.n, s.k, static_cast<T>(ab.alpha), a.ptr(), a.ld, b.ptr(),
                        b.ld, static_cast<T>(ab.beta), c.ptr(), c.ld);
    } catch (const std::exception& e) {
      return std::string("threw: ") + e.what();
    }
    if (s.m == 0 || s.n == 0) return "";  // C is empty: nothing to compare
    const double tol = tolerance<T>(s.k);
    for (i64 i = 0; i < s.m; ++i)
      for (i64 j = 0; j < c.ld && (i < s.m - 1 || j < s.n); ++j) {
        const double got = c.at(i, j);
        char buf[160];
        if (j >= s.n) {  // a gap between rows: must be untouched
          if (c.at(i, j) == kCGap<T>) continue;
          std::snprintf(buf, sizeof buf, "wrote outside C: C(%lld, %lld) = %g",
                        static_cast<long long>(i), static_cast<long long>(j), got);
          return buf;
        }
        const double want = ref[static_cast<size_t>(i * s.n + j)];
        const double bound = tol * mag[static_cast<size_t>(i * s.n + j)];
        if (std::isfinite(got) && std::fabs(got - want) <= bound) continue;
        std::snprintf(buf, sizeof buf, "C(%lld, %lld) = %.9g, expected %.9g (tolerance %.3g)",
                      static_cast<long long>(i), static_cast<long long>(j), got, want, bound);
        return buf;
      }
    return "";
  }
};

// ---- the sweep -----------------------------------------------------------------------

template <typename T>
std::vector<Shape> sweep_shapes() {
  std::vector<Shape> shapes = {
      {0, 0, 0}, {0, 5, 3}, {4, 0, 3}, {4, 5, 0},  // empty C, or k == 0: C = beta * C
      {1, 1, 1}, {1, 1, 97}, {1, 17, 1}, {7, 1, 13},
      {7, 13, 97}, {13, 7, 257}, {97, 13, 7}, {97, 257, 13},  // primes
      {2, 1000, 37}, {61, 257, 97}, {64, 300, 5},             // small-M path: M <= 64
      {16, 2000, 40},                                         // small M, enough work for 2 threads
      {65, 40, 29},                                           // first M on the packed path
  };
  const pyfrozen::Isa saved = pyfrozen::active_isa();
  for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {  // straddle each path's blocking
    pyfrozen::set_active_isa(isa);
    const pyfrozen::GemmBlocking bl = pyfrozen::gemm_blocking<T>();
    const std::vector<Shape> more = {
        {bl.mr + 1, bl.nr + 1, bl.kc + 1},                  // one past a tile and a k block
        {bl.mr - 1, bl.nr - 1, bl.kc - 1},                  // one short of them
        {30, 5 * bl.nr + 1, 2 * bl.kc + 3},                 // small M across k blocks
        {bl.mc + bl.mr + 1, 2 * bl.nr + 3, 2 * bl.kc + 7},  // across mc and kc, ragged tiles
        {67, bl.nc + bl.nr + 5, 11},                        // across nc
    };
    for (const Shape& s : more)
      if (std::find(shapes.begin(), shapes.end(), s) == shapes.end()) shapes.push_back(s);
  }
  pyfrozen::set_active_isa(saved);
  return shapes;
}

const Scalars kScalars[] = {
    {1.0, 0.0},    // C pre-filled with NaN: must not be read
    {1.0, 1.0},    // accumulate
    {-0.5, 2.5},   // general
    {0.0, -1.5},   // alpha == 0: C = beta * C, A and B (NaN) not read
};

template <typename T>
void sweep() {
  const std::vector<Shape> shapes = sweep_shapes<T>();
  std::uint64_t seed = sizeof(T);
  int variant = 0;
  for (const Shape& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (const Scalars& ab : kScalars) {
        // Every other case pads the leading dimensions (ld > cols), so both the dense
        // and the strided form of each shape and transpose meet every path.
        const i64 pad = (variant++ % 2) * 3;
        const Case<T> c(t & 1, t & 2, s, ab, pad, ++seed);
        for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {
          pyfrozen::set_active_isa(isa);
          for (int threads : {1, 2}) {
            pyfrozen::set_num_threads(threads);
            const std::string err = c.run();
            CHECK_MSG(err.empty(), c.describe() + ": " + err);
          }
        }
      }
}

// ---- contract details ----------------------------------------------------------------

template <typename T>
void no_reads_when_alpha_or_k_is_zero() {
  // A and B are null: the header promises they are not read when alpha == 0 or k == 0.
  for (const double beta : {0.0, 1.0, 2.0}) {
    for (const bool zero_k : {false, true}) {
      Matrix<T> c(3, 5, 2, kCGap<T>);
      for (i64 i = 0; i < 3; ++i)
        for (i64 j = 0; j < 5; ++j) c.at(i, j) = beta == 0 ? kNaN<T> : T(i - j);
      const i64 k = zero_k ? 0 : 4;
      const T alpha = zero_k ? T(1) : T(0);
      pyfrozen::gemm<T>(false, false, 3, 5, k, alpha, nullptr, std::max<i64>(1, k), nullptr, 5,
                        static_cast<T>(beta), c.ptr(), c.ld);
      bool ok = true;
      for (i64 i = 0; i < 3; ++i)
        for (i64 j = 0; j < 5; ++j) ok = ok && c.at(i, j) == static_cast<T>(beta * (i - j));
      CHECK_MSG(ok, std::string(type_name<T>()) + " beta=" + std::to_string(beta) +
                        (zero_k ? " k=0" : " alpha=0"));
    }
  }
  // Empty C: nothing is read or written, all pointers may be null.
  pyfrozen::gemm<T>(false, false, 0, 5, 3, T(1), nullptr, 3, nullptr, 5, T(0), nullptr, 5);
  pyfrozen::gemm<T>(true, true, 4, 0, 3, T(1), nullptr, 4, nullptr, 3, T(0), nullptr, 1);
  CHECK(true);  // reached without crashing
}

template <typename T>
void bad_arguments_throw() {
  using pyfrozen::ShapeError;
  std::vector<T> a(64, T(1)), b(64, T(1));
  std::vector<T> c(64, T(7));
  // C = A B on the buffers above with the given sizes and leading dimensions.
  auto gemm = [&](bool ta, bool tb, i64 m, i64 n, i64 k, i64 lda, i64 ldb, i64 ldc) {
    pyfrozen::gemm<T>(ta, tb, m, n, k, T(1), a.data(), lda, b.data(), ldb, T(0), c.data(), ldc);
  };
  // m x n x k = 2 x 3 x 4: A is 2x4 (4x2 transposed), B is 4x3 (3x4), C is 2x3.
  CHECK_THROWS(ShapeError, gemm(false, false, -1, 3, 4, 4, 3, 3), "m=-1");
  CHECK_THROWS(ShapeError, gemm(false, false, 2, -1, 4, 4, 3, 3), "n=-1");
  CHECK_THROWS(ShapeError, gemm(false, false, 2, 3, -1, 4, 3, 3), "k=-1");
  CHECK_THROWS(ShapeError, gemm(false, false, 2, 3, 4, 3, 3, 3), "lda=3");
  CHECK_THROWS(ShapeError, gemm(true, false, 2, 3, 4, 1, 3, 3), "lda=1");
  CHECK_THROWS(ShapeError, gemm(false, false, 2, 3, 4, 4, 2, 3), "ldb=2");
  CHECK_THROWS(ShapeError, gemm(false, true, 2, 3, 4, 4, 3, 3), "ldb=3");
  CHECK_THROWS(ShapeError, gemm(false, false, 2, 3, 4, 4, 3, 2), "ldc=2");
  CHECK_THROWS(ShapeError, gemm(false, false, 2, 0, 4, 4, 1, 0), "ldc=0");  // ldc >= max(1, n)
  // Transposed, the same leading dimensions are fine (A^T is 4x2 with lda 2 >= m).
  gemm(true, true, 2, 3, 4, 2, 4, 3);
  CHECK(c[0] == T(4) && c[5] == T(4) && c[6] == T(7));
  // A failed call leaves C alone, and ShapeError is a std::invalid_argument.
  std::fill(c.begin(), c.end(), T(7));
  CHECK_THROWS(std::invalid_argument, gemm(false, false, 2, 3, 4, 4, 3, 1), "ldc=1");
  CHECK(std::all_of(c.begin(), c.end(), [](T v) { return v == T(7); }));
}

// The header promises gemm is safe to call from several threads at once (the packing
// buffers are per thread); four callers with different shapes check each other's work.
template <typename T>
void concurrent_callers() {
  pyfrozen::set_num_threads(2);
  const Shape shapes[] = {{37, 300, 70}, {120, 50, 261}, {5, 700, 33}, {90, 90, 90}};
  std::vector<Case<T>> cases;
  for (int i = 0; i < 4; ++i)
    cases.emplace_back(i & 1, i & 2, shapes[i], Scalars{0.5, 1.0}, 0, 100 + i);
  std::string errors[4];
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 3 && errors[i].empty(); ++rep) errors[i] = cases[i].run();
    });
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 4; ++i)
    CHECK_MSG(errors[i].empty(), cases[i].describe() + ": " + errors[i]);
}

// Callers may run gemm inside their own OpenMP region (a batch of small products).
// Each call must still do its whole product: its worksharing must not bind to the
// caller's team (that split each product across the caller's threads, or hung).
template <typename T>
void inside_caller_parallel_region() {
#ifdef PYFROZEN_TEST_OPENMP
  for (int lib_threads : {1, 2})
    for (int batch : {3, 8})
      for (i64 m : {20, 100}) {  // small-M and packed paths
        pyfrozen::set_num_threads(lib_threads);
        const i64 n = 40, k = 30;
        std::vector<T> a(static_cast<size_t>(m * k), T(1));
        std::vector<std::vector<T>> b, c;
        for (int i = 0; i < batch; ++i) {
          b.emplace_back(static_cast<size_t>(k * n), T(i + 1));
          c.emplace_back(static_cast<size_t>(m * n), std::numeric_limits<T>::quiet_NaN());
        }
#pragma omp parallel for num_threads(2)
        for (int i = 0; i < batch; ++i)
          pyfrozen::gemm<T>(false, false, m, n, k, T(1), a.data(), k, b[i].data(), n, T(0),
                            c[i].data(), n);
        i64 wrong = 0;
        for (int i = 0; i < batch; ++i)
          for (T v : c[i]) wrong += v != T(k * (i + 1));
        CHECK_MSG(wrong == 0, "batch " + std::to_string(batch) + ", m " + std::to_string(m) +
                                  ", library threads " + std::to_string(lib_threads) + ": " +
                                  std::to_string(wrong) + " wrong elements");
      }
#endif
}

template <typename T>
void blocking_is_consistent() {
  for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {
    pyfrozen::set_active_isa(isa);
    const pyfrozen::GemmBlocking bl = pyfrozen::gemm_blocking<T>();
    CHECK_MSG(bl.mr > 0 && bl.nr > 0 && bl.kc > 0, pyfrozen::isa_name(isa));
    CHECK_MSG(bl.mc >= bl.mr && bl.mc % bl.mr == 0, pyfrozen::isa_name(isa));
    CHECK_MSG(bl.nc >= bl.nr && bl.nc % bl.nr == 0, pyfrozen::isa_name(isa));
  }
}

template <typename T>
void all_for_type() {
  pyfrozen_test::run_section("sweep", sweep<T>);
  pyfrozen_test::run_section("no_reads", no_reads_when_alpha_or_k_is_zero<T>);
  pyfrozen_test::run_section("bad_arguments", bad_arguments_throw<T>);
  pyfrozen_test::run_section("concurrent", concurrent_callers<T>);
  pyfrozen_test::run_section("in_omp_region", inside_caller_parallel_region<T>);
  pyfrozen_test::run_section("blocking", blocking_is_consistent<T>);
}

}  // namespace

int main() {
  const pyfrozen_test::RuntimeRestore restore;
  std::printf("pyfrozen %s, isas:", pyfrozen::version());
  for (pyfrozen::Isa i : pyfrozen::supported_isas()) std::printf(" %s", pyfrozen::isa_name(i));
  std::printf(", openmp: %s\n", pyfrozen::has_openmp() ? "yes" : "no");
  all_for_type<float>();
  all_for_type<double>();
  return pyfrozen_test::summary();
}
