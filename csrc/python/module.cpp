// pyfrozen._core: the pybind11 face of the C++ core. The core never sees Python;
// each bind_*.cpp checks arguments, releases the GIL and calls one kernel.
#include <pybind11/pybind11.h>

#include "pyfrozen/errors.hpp"
#include "pyfrozen/version.hpp"

namespace py = pybind11;

namespace pyfrozen::python {
void init_runtime(py::module_& m);
void init_gemm(py::module_& m);
void init_batchnorm(py::module_& m);
void init_conv2d(py::module_& m);
void init_elementwise(py::module_& m);
void init_loss(py::module_& m);
void init_pooling(py::module_& m);
void init_optimizer(py::module_& m);
void init_dense(py::module_& m);
}  // namespace pyfrozen::python

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyfrozen's C++ kernels (numpy arrays in and out, GIL released).";
  // ShapeError is a std::invalid_argument and already maps to ValueError.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const pyfrozen::DTypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });
  m.def("version", &pyfrozen::version, "Version of the loaded C++ core library.");
  pyfrozen::python::init_runtime(m);
  pyfrozen::python::init_gemm(m);
  pyfrozen::python::init_batchnorm(m);
  pyfrozen::python::init_conv2d(m);
  pyfrozen::python::init_elementwise(m);
  pyfrozen::python::init_loss(m);
  pyfrozen::python::init_pooling(m);
  pyfrozen::python::init_optimizer(m);
  pyfrozen::python::init_dense(m);
}
