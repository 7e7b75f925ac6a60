// One training step of conv2d -> BatchNorm (float64, NHWC / HWIO), on the public API:
//
//   forward   y = conv2d(x, w) ('same' padding)    z = batchnorm_train(y; gamma, beta)
//   loss      L = sum(z * g)                       (g fixed, so dL/dz = g)
//   backward  dy, dgamma, dbeta = batchnorm_backward_training(g, ...)
//             dw = conv2d_backward_weight(x, dy)   dx = conv2d_backward_input(dy, w)
//
// The convolution is checked against naive loops and every gradient against central
// finite differences of L; then the same for a frozen BatchNorm (inference mode). Last,
// a few training steps: mean squared error to a fixed target (pyfrozen::mse gives dL/dz),
// backward, sgd_update of the trainable weights (the kernel alone with BN frozen); the
// loss must fall. The program exits non-zero on a mismatch, so it doubles as a test of
// the installed package.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <utility>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

namespace {

using i64 = std::int64_t;
using Vec = std::vector<double>;

constexpr i64 N = 2, H = 7, W = 6, C = 3, K = 3, CO = 5;

Vec random_values(i64 n, std::uint32_t seed) {
  Vec v(static_cast<size_t>(n));
  for (double& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<double>(seed >> 8) / 8388608.0 - 1.0;
  }
  return v;
}

struct Net {
  pyfrozen::Conv2dShape shape{N, H, W, C, K, K, C, CO};
  pyfrozen::Conv2dParams params;
  Vec x = random_values(N * H * W * C, 1), w = random_values(K * K * C * CO, 2);
  Vec gamma = random_values(CO, 3), beta = random_values(CO, 4);
  Vec g = random_values(N * H * W * CO, 5);  // dL/dz
  Vec running_mean = random_values(CO, 6), running_var = Vec(CO, 0.7);
  bool frozen_bn = false;  // inference-mode BatchNorm (running statistics)

  Net() {
    params.padding = pyfrozen::conv2d_padding(H, W, K, K, 1, 1, 1, 1,
                                              pyfrozen::Conv2dPaddingMode::same);
  }
  i64 rows() const { return N * H * W; }

  Vec conv() const {
    Vec y(static_cast<size_t>(rows() * CO));
    pyfrozen::conv2d_forward<double>(shape, params, x.data(), w.data(), y.data());
    return y;
  }

  // z = BN(conv(x)), batch statistics or (frozen_bn) the running ones.
  Vec output() const {
    const Vec y = conv();
    Vec z(y.size()), mean(CO), inv_std(CO);
    if (frozen_bn)
      pyfrozen::batchnorm_forward_inference<double>(rows(), CO, y.data(), gamma.data(),
                                                    beta.data(), running_mean.data(),
                                                    running_var.data(), 1e-3, z.data());
    else
      pyfrozen::batchnorm_forward_training<double>(rows(), CO, y.data(), gamma.data(),
                                                   beta.data(), 1e-3, z.data(), mean.data(),
                                                   inv_std.data(), nullptr, nullptr, 0.99);
    return z;
  }

  double loss() const {
    const Vec z = output();
    double s = 0;
    for (size_t i = 0; i < z.size(); ++i) s += z[i] * g[i];
    return s;
  }
};

struct Grads {
  Vec x, w, gamma, beta;
};

Grads backward(const Net& net) {
  const Vec y = net.conv();
  Vec z(y.size()), mean(CO), inv_std(CO), dy(y.size());
  Grads d{Vec(net.x.size()), Vec(net.w.size()), Vec(CO), Vec(CO)};
  if (net.frozen_bn) {
    pyfrozen::batchnorm_backward_inference<double>(
        net.rows(), CO, net.g.data(), y.data(), net.gamma.data(), net.running_mean.data(),
        net.running_var.data(), 1e-3, dy.data(), d.gamma.data(), d.beta.data());
  } else {
    pyfrozen::batchnorm_forward_training<double>(net.rows(), CO, y.data(), net.gamma.data(),
                                                 net.beta.data(), 1e-3, z.data(), mean.data(),
                                                 inv_std.data(), nullptr, nullptr, 0.99);
    pyfrozen::batchnorm_backward_training<double>(net.rows(), CO, net.g.data(), y.data(),
                                                  net.gamma.data(), mean.data(),
                                                  inv_std.data(), dy.data(), d.gamma.data(),
                                                  d.beta.data());
  }
  pyfrozen::conv2d_backward_weight<double>(net.shape, net.params, net.x.data(), dy.data(),
                                           d.w.data());
  pyfrozen::conv2d_backward_input<double>(net.shape, net.params, dy.data(), net.w.data(),
                                          d.x.data());
  return d;
}

// Naive 'same' convolution, the reference for conv2d_forward.
double naive_conv_error(const Net& net) {
  const Vec y = net.conv();
  const auto& pad = net.params.padding;
  double worst = 0;
  for (i64 n = 0; n < N; ++n)
    for (i64 oh = 0; oh < H; ++oh)
      for (i64 ow = 0; ow < W; ++ow)
        for (i64 o = 0; o < CO; ++o) {
          double s = 0;
          for (i64 kh = 0; kh < K; ++kh)
            for (i64 kw = 0; kw < K; ++kw)
              for (i64 c = 0; c < C; ++c) {
                const i64 ih = oh + kh - pad.top, iw = ow + kw - pad.left;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += net.x[static_cast<size_t>(((n * H + ih) * W + iw) * C + c)] *
                     net.w[static_cast<size_t>(((kh * K + kw) * C + c) * CO + o)];
              }
          const double got = y[static_cast<size_t>(((n * H + oh) * W + ow) * CO + o)];
          worst = std::fmax(worst, std::fabs(got - s));
        }
  return worst;
}

// Largest relative gap between analytic gradients and central differences of L,
// over a few entries of every parameter.
double gradient_error(Net& net) {
  const Grads d = backward(net);
  double worst = 0;
  auto probe = [&](Vec& param, const Vec& grad) {
    for (size_t i = 0; i < param.size(); i += 1 + param.size() / 7) {
      const double keep = param[i], h = 1e-6;
      param[i] = keep + h;
      const double up = net.loss();
      param[i] = keep - h;
      const double down = net.loss();
      param[i] = keep;
      const double fd = (up - down) / (2 * h);
      worst = std::fmax(worst, std::fabs(fd - grad[i]) / (1.0 + std::fabs(fd)));
    }
  };
  probe(net.x, d.x);
  probe(net.w, d.w);
  probe(net.gamma, d.gamma);
  probe(net.beta, d.beta);
  return worst;
}

// SGD steps on mse(z, target); returns the loss before the first and after the last.
// Frozen BN: only the convolution's kernel is updated (gamma, beta, statistics stay).
std::pair<double, double> train(Net net, int steps) {
  const Vec target = random_values(N * H * W * CO, 7);
  pyfrozen::SgdOptions opt;
  opt.learning_rate = 0.5;
  double first = 0, last = 0;
  for (int step = 0; step <= steps; ++step) {
    const Vec z = net.output();
    last = pyfrozen::mse<double>(static_cast<i64>(z.size()), z.data(), target.data(),
                                 net.g.data());  // net.g is dL/dz for backward()
    if (step == 0) first = last;
    if (step == steps) break;
    const Grads d = backward(net);
    pyfrozen::sgd_update<double>(static_cast<i64>(net.w.size()), net.w.data(), d.w.data(),
                                 nullptr, opt);
    if (!net.frozen_bn) {
      pyfrozen::sgd_update<double>(CO, net.gamma.data(), d.gamma.data(), nullptr, opt);
      pyfrozen::sgd_update<double>(CO, net.beta.data(), d.beta.data(), nullptr, opt);
    }
  }
  return {first, last};
}

}  // namespace

int main() {
  try {
    Net net;
    const double conv_err = naive_conv_error(net);
    const double train_err = gradient_error(net);
    net.frozen_bn = true;
    const double frozen_err = gradient_error(net);
    std::printf("conv error %.2e, gradient error: batch-stat BN %.2e, frozen BN %.2e\n",
                conv_err, train_err, frozen_err);
    if (!(conv_err < 1e-12 && train_err < 1e-6 && frozen_err < 1e-6)) {
      std::printf("MISMATCH\n");
      return 1;
    }
    std::printf("conv + batchnorm step: forward and gradients match\n");
    net.frozen_bn = false;
    const auto [first, last] = train(net, 20);
    net.frozen_bn = true;
    const auto [first_f, last_f] = train(net, 20);
    std::printf("20 SGD steps on mse: loss %.4f -> %.4f (batch-stat BN), %.4f -> %.4f "
                "(frozen BN, kernel only)\n", first, last, first_f, last_f);
    if (!(last < 0.9 * first && last_f < 0.9 * first_f)) {
      std::printf("TRAINING DID NOT LOWER THE LOSS\n");
      return 1;
    }
    std::printf("conv + batchnorm training: the loss fell\n");
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
