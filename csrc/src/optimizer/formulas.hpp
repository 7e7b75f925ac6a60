#pragma once
// Private: the update formulas, written once for update_ref.cpp and update_avx2.cpp so
// both paths compute the same operations in the same order (both files are built with
// -ffp-contract=off, so neither fuses a multiply-add: the paths agree bit for bit).
//
// R is a register type local to the including file (anonymous namespace): a scalar
// wrapper or an AVX2 vector, with + - * / and vsqrt(R) found by argument-dependent
// lookup. Every instantiation therefore has internal linkage, so the linker can never
// pick an AVX2-compiled copy for generic callers. Keep this file to templates over R.
#include <cstdint>
#include <type_traits>

#include "with_flag.hpp"

namespace pyfrozen::detail {

template <class R>
struct SgdCoef {
  R lr, momentum, decay;
};

template <class R>
struct AdamCoef {
  R alpha, one_minus_b1, one_minus_b2, epsilon, decay;
};

template <class R>
struct RmspropCoef {
  R lr, rho, one_minus_rho, momentum, epsilon, decay;
};

// Keras 3 decoupled weight decay: variable - variable * (wd * lr), before the step.
template <bool Decay, class R>
void decay_weight(R& w, R decay) {
  if constexpr (Decay) w = w - w * decay;
}

// Keras 3 SGD: v = v * momentum - g * lr; w += v (nesterov: w += v * momentum - g * lr).
template <bool Decay, bool Momentum, bool Nesterov, class R>
void sgd_step(R& w, R g, R& v, const SgdCoef<R>& c) {
  decay_weight<Decay>(w, c.decay);
  if constexpr (Momentum) {
    v = v * c.momentum - g * c.lr;
    if constexpr (Nesterov)
      w = w + (v * c.momentum - g * c.lr);
    else
      w = w + v;
  } else {
    w = w - g * c.lr;
  }
}

// Keras 3 Adam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= m alpha / (sqrt(v) + eps).
template <bool Decay, class R>
void adam_step(R& w, R g, R& m, R& v, const AdamCoef<R>& c) {
  decay_weight<Decay>(w, c.decay);
  m = m + (g - m) * c.one_minus_b1;
  v = v + (g * g - v) * c.one_minus_b2;
  w = w - (m * c.alpha) / (vsqrt(v) + c.epsilon);
}

// Keras 3 RMSprop (epsilon inside the square root).
template <bool Decay, bool Momentum, bool Centered, class R>
void rmsprop_step(R& w, R g, R& v, R& mom, R& mg, const RmspropCoef<R>& c) {
  decay_weight<Decay>(w, c.decay);
  v = c.rho * v + c.one_minus_rho * (g * g);
  R den = v + c.epsilon;
  if constexpr (Centered) {
    mg = c.rho * mg + c.one_minus_rho * g;
    den = v - mg * mg + c.epsilon;
  }
  const R inc = (c.lr * g) / vsqrt(den);
  if constexpr (Momentum) {
    mom = c.momentum * mom + inc;
    w = w - mom;
  } else {
    w = w - inc;
  }
}

/// Runs one optimizer over elements [begin, end): `Loop` is the ISA's element loop
/// (scalar or vector), called with the state count and mask flag fixed at compile time.
/// x[0] is the weight, x[1..] the state arrays in the order given.
template <class R, class Loop, class T>
void run_sgd(Loop loop, T* w, const T* g, T* v, const std::uint8_t* frozen, bool decay,
             bool momentum, bool nesterov, const SgdCoef<R>& c, std::int64_t begin,
             std::int64_t end) {
  with_flag(decay, [&](auto D) {
    with_flag(frozen != nullptr, [&](auto K) {
      if (!momentum) {
        T* p[] = {w};
        loop.template run<1, K()>(p, g, frozen, begin, end, [&](R gv, R* x) {
          R none = gv;
          sgd_step<D(), false, false>(x[0], gv, none, c);
        });
        return;
      }
      T* p[] = {w, v};
      with_flag(nesterov, [&](auto N) {
        loop.template run<2, K()>(p, g, frozen, begin, end,
                                  [&](R gv, R* x) { sgd_step<D(), true, N()>(x[0], gv, x[1], c); });
      });
    });
  });
}

template <class R, class Loop, class T>
void run_adam(Loop loop, T* w, const T* g, T* m, T* v, const std::uint8_t* frozen, bool decay,
              const AdamCoef<R>& c, std::int64_t begin, std::int64_t end) {
  T* p[] = {w, m, v};
  with_flag(decay, [&](auto D) {
    with_flag(frozen != nullptr, [&](auto K) {
      loop.template run<3, K()>(p, g, frozen, begin, end,
                                [&](R gv, R* x) { adam_step<D()>(x[0], gv, x[1], x[2], c); });
    });
  });
}

template <class R, class Loop, class T>
void run_rmsprop(Loop loop, T* w, const T* g, T* v, T* mom, T* mg, const std::uint8_t* frozen,
                 bool decay, const RmspropCoef<R>& c, std::int64_t begin, std::int64_t end) {
  // Slots: w, v, then the momentum buffer and the mean gradient where they exist.
  T* p[] = {w, v, mom != nullptr ? mom : mg, mg};
  with_flag(decay, [&](auto D) {
    with_flag(frozen != nullptr, [&](auto K) {
      with_flag(mom != nullptr, [&](auto M) {
        with_flag(mg != nullptr, [&](auto C) {
          constexpr int kStates = 2 + int(M()) + int(C());
          loop.template run<kStates, K()>(p, g, frozen, begin, end, [&](R gv, R* x) {
            R unused = gv;  // stands in for a state this variant does not have
            R* mom_r = &unused;
            R* mg_r = &unused;
            if constexpr (M()) mom_r = &x[2];
            if constexpr (C()) mg_r = &x[2 + int(M())];
            rmsprop_step<D(), M(), C()>(x[0], gv, x[1], *mom_r, *mg_r, c);
          });
        });
      });
    });
  });
}

}  // namespace pyfrozen::detail
