# Per-thread mode flags of the tape, as C thread-locals: grad recording, the layer scope
# and the active trace() recorder. PyTorch keeps grad mode per thread (a new thread starts
# with recording on); a process-wide flag let one thread's predict() under no_grad switch
# recording off for another thread's training step. threading.local would cost two dict
# lookups per recorded op; a __thread variable costs a load, so the hot path stays as fast.
#
# scope and tracer hold a strong reference while set (NULL means None). The context
# managers that set them always restore the previous value, so a thread normally ends with
# both NULL; one that ends inside a scope leaks that one object, never frees it twice.
# tape.py cimports these (``from cython.cimports...``); the wheel ships only the compiled tape.

cdef extern from *:
    """
    static __thread int pf_grad_off;        /* zero in every new thread: recording on */
    static __thread PyObject *pf_scope;     /* strong reference or NULL */
    static __thread PyObject *pf_tracer;    /* strong reference or NULL */

    static CYTHON_INLINE int pf_grad_enabled(void) { return !pf_grad_off; }

    static CYTHON_INLINE int pf_swap_grad_enabled(int on) {
        int previous = !pf_grad_off;
        pf_grad_off = !on;
        return previous;
    }

    static CYTHON_INLINE PyObject *pf_get_slot(PyObject **slot) {
        PyObject *value = *slot ? *slot : Py_None;
        Py_INCREF(value);
        return value;                           /* new reference */
    }

    static CYTHON_INLINE PyObject *pf_swap_slot(PyObject **slot, PyObject *value) {
        PyObject *previous = *slot ? *slot : (Py_INCREF(Py_None), Py_None);
        if (value == Py_None) {
            *slot = NULL;
        } else {
            Py_INCREF(value);
            *slot = value;
        }
        return previous;                        /* the slot's reference, handed over */
    }

    static CYTHON_INLINE int pf_tracing(void) { return pf_tracer != NULL; }
    static CYTHON_INLINE PyObject *pf_get_scope(void) { return pf_get_slot(&pf_scope); }
    static CYTHON_INLINE PyObject *pf_swap_scope(PyObject *v) { return pf_swap_slot(&pf_scope, v); }
    static CYTHON_INLINE PyObject *pf_get_tracer(void) { return pf_get_slot(&pf_tracer); }
    static CYTHON_INLINE PyObject *pf_swap_tracer(PyObject *v) { return pf_swap_slot(&pf_tracer, v); }
    """
    bint pf_grad_enabled()
    bint pf_swap_grad_enabled(bint on)
    bint pf_tracing()
    object pf_get_scope()
    object pf_swap_scope(object value)
    object pf_get_tracer()
    object pf_swap_tracer(object value)
