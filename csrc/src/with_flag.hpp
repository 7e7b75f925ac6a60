#pragma once
// Private: a run-time flag turned into a template argument, so inner loops carry no branch.
#include <type_traits>

namespace pyfrozen::detail {

/// Calls f(std::true_type{}) or f(std::false_type{}) as `flag` says.
template <class F>
void with_flag(bool flag, F&& f) {
  if (flag)
    f(std::true_type{});
  else
    f(std::false_type{});
}

}  // namespace pyfrozen::detail
