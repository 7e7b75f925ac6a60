// A dense layer, forward and backward, on pyfrozen::gemm (float32, row-major):
//
//   forward   Y  = X W + b          X: batch x in, W: in x out, b: out, Y: batch x out
//   backward  dW = X^T dY           dW: in x out
//             dX = dY W^T           dX: batch x in
//             db = sum over rows of dY  (= 1^T dY, also a gemm)
//
// Every result is checked against naive loops accumulated in double; the program exits
// non-zero on a mismatch, so it doubles as a test of the installed package.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

namespace {

using i64 = std::int64_t;

// Row-major matrix; ld == cols.
struct Matrix {
  i64 rows, cols;
  std::vector<float> v;
  Matrix(i64 r, i64 c) : rows(r), cols(c), v(static_cast<size_t>(r * c)) {}
  float at(i64 i, i64 j) const { return v[static_cast<size_t>(i * cols + j)]; }
};

// Deterministic values in [-1, 1) (a 32-bit LCG: enough for an example).
void fill(Matrix& m, std::uint32_t seed) {
  for (float& x : m.v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / 8388608.0f - 1.0f;
  }
}

// op(A) op(B) with plain loops in double: the reference.
Matrix naive_matmul(const Matrix& a, bool ta, const Matrix& b, bool tb) {
  const i64 m = ta ? a.cols : a.rows, k = ta ? a.rows : a.cols, n = tb ? b.rows : b.cols;
  Matrix c(m, n);
  for (i64 i = 0; i < m; ++i)
    for (i64 j = 0; j < n; ++j) {
      double s = 0;
      for (i64 p = 0; p < k; ++p)
        s += double(ta ? a.at(p, i) : a.at(i, p)) * (tb ? b.at(j, p) : b.at(p, j));
      c.v[static_cast<size_t>(i * n + j)] = static_cast<float>(s);
    }
  return c;
}

// Largest |got - want| / (1 + |want|); float32 sums of a few hundred terms stay ~1e-6.
double max_error(const Matrix& got, const Matrix& want) {
  double worst = 0;
  for (size_t i = 0; i < got.v.size(); ++i) {
    const double e = std::fabs(double(got.v[i]) - want.v[i]) / (1.0 + std::fabs(want.v[i]));
    worst = std::isnan(e) ? INFINITY : std::fmax(worst, e);
  }
  return worst;
}

int run() {
  const i64 batch = 64, in = 300, out = 130;
  Matrix x(batch, in), w(in, out), b(1, out), dy(batch, out);
  fill(x, 1);
  fill(w, 2);
  fill(b, 3);
  fill(dy, 4);

  // Forward: start Y as the bias in every row, then Y = 1 * X W + 1 * Y.
  Matrix y(batch, out);
  for (i64 i = 0; i < batch; ++i)
    for (i64 j = 0; j < out; ++j) y.v[static_cast<size_t>(i * out + j)] = b.at(0, j);
  pyfrozen::gemm<float>(false, false, batch, out, in, 1.0f, x.v.data(), in, w.v.data(), out,
                        1.0f, y.v.data(), out);

  // Backward. beta = 0: the outputs are written without being read first.
  Matrix dw(in, out), dx(batch, in), db(1, out);
  pyfrozen::gemm<float>(true, false, in, out, batch, 1.0f, x.v.data(), in, dy.v.data(), out,
                        0.0f, dw.v.data(), out);
  pyfrozen::gemm<float>(false, true, batch, in, out, 1.0f, dy.v.data(), out, w.v.data(), out,
                        0.0f, dx.v.data(), in);
  const std::vector<float> ones(static_cast<size_t>(batch), 1.0f);  // batch x 1, used as 1^T
  pyfrozen::gemm<float>(true, false, 1, out, batch, 1.0f, ones.data(), 1, dy.v.data(), out,
                        0.0f, db.v.data(), out);

  // The same with naive loops.
  Matrix y_ref = naive_matmul(x, false, w, false);
  for (i64 i = 0; i < batch; ++i)
    for (i64 j = 0; j < out; ++j) y_ref.v[static_cast<size_t>(i * out + j)] += b.at(0, j);
  Matrix ones_m(batch, 1);
  ones_m.v = ones;
  const double errors[] = {max_error(y, y_ref), max_error(dw, naive_matmul(x, true, dy, false)),
                           max_error(dx, naive_matmul(dy, false, w, true)),
                           max_error(db, naive_matmul(ones_m, true, dy, false))};
  const char* names[] = {"Y", "dW", "dX", "db"};

  std::printf("dense_layer: pyfrozen %s, isa %s, %d threads; batch %lld, %lld -> %lld\n",
              pyfrozen::version(), pyfrozen::isa_name(pyfrozen::active_isa()),
              pyfrozen::get_num_threads(), static_cast<long long>(batch),
              static_cast<long long>(in), static_cast<long long>(out));
  bool ok = true;
  for (int i = 0; i < 4; ++i) {
    const bool good = errors[i] <= 1e-4;
    std::printf("  %-2s max error %.2e %s\n", names[i], errors[i], good ? "ok" : "MISMATCH");
    ok = ok && good;
  }
  std::printf("%s\n", ok ? "forward and backward match naive loops"
                          : "FAILED: gemm disagrees with naive loops");
  return ok ? 0 : 1;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {  // pyfrozen::ShapeError for bad sizes
    std::fprintf(stderr, "dense_layer: %s\n", e.what());
    return 2;
  }
}
