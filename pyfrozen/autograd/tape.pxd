# Augmenting declarations for tape.py: Cython compiles Node as an extension type
# with typed slots and types the walk's loop variables.
cimport cython

cdef class Node:
    cdef public str name
    cdef public tuple parents
    cdef public tuple needs_input_grad
    cdef public object backward
    cdef public tuple saved

@cython.locals(order=list, visited=set, stack=list, node=Node, parent=object, i=Py_ssize_t)
cpdef list reverse_topological_order(Node root)
