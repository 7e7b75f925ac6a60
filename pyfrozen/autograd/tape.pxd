# Augmenting declarations for tape.py: Cython compiles Version and Node as extension
# types with typed slots and types the loops (the per-thread mode flags: thread_state.pxd).
cimport cython

cdef object _tensor_type
cdef object _parameter_type

cdef class Version:
    cdef public long long value
    cdef public bint shared

cdef class Node:
    cdef dict __dict__
    cdef public str name
    cdef public tuple parents
    cdef public tuple needs_input_grad
    cdef public object fn
    cdef public bint recording
    cdef public tuple saved
    cdef public tuple saved_versions
    cdef public long long saved_bytes
    cdef public tuple counted
    cdef public object scope
    cdef public tuple inputs
    cdef public bint save_output_flag
    cdef public Py_ssize_t view_of
    cdef public tuple mask_checks

@cython.auto_pickle(False)
cdef class TensorSlots:
    cdef public object data
    cdef public object grad
    cdef public bint _requires_grad
    cdef public Node _node
    cdef public Version _version
    cdef public object _frozen
    cdef object __weakref__

cdef _init_node(Node node, str name, object fn, tuple needs_input_grad, bint recording)

@cython.locals(a=object, owner=TensorSlots, versions=tuple, counted=tuple)
cdef _save(Node node, tuple arrays)

@cython.locals(t=TensorSlots, i=Py_ssize_t, base=object)
cdef object _input_owning(tuple inputs, object array)

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, record=bint, enabled=bint, needs=list, arrays=list, node=Node,
               masks=list, t=TensorSlots, result=TensorSlots)
cpdef object apply(object fn, tuple inputs, dict kwargs)

cdef object _F32
cdef object _F64
cdef dict _NO_KWARGS

@cython.locals(dtype=object)
cpdef object apply_binary(object fn, object a, object b)

cdef object _edge(TensorSlots t)

@cython.locals(order=list, visited=set, stack=list, node=Node, parent=object, i=Py_ssize_t)
cpdef list reverse_topological_order(Node root)

@cython.locals(node=Node, pending=dict, handed=set, i=Py_ssize_t, j=Py_ssize_t,
               grads=object)
cpdef run_backward(object root, object grad, bint retain_graph)

@cython.locals(version=Version)
cdef _check_versions(Node node)

cdef _check_masks(Node node)

cdef _accumulate_leaf(object leaf, object g, object name, set handed)
