"""A software prefetch for the compiled kernels (numba): ``prefetch(array, index)`` inside ``@njit`` code.

The kernels that walk a graph or place its entries read and write at random into arrays far
larger than the caches, one dependent miss after another. Asking for a cache line some steps
before it is needed lets those misses overlap. The hint changes no result: LLVM's
``llvm.prefetch`` never faults and writes nothing, so a kernel with its prefetches removed is
its own reference (the kernels' tests check the results; the prefetch is measured, in
BENCHMARKS.md, sessions 17-18).

References
----------
LLVM Language Reference Manual, "'llvm.prefetch' Intrinsic".
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch"]


@intrinsic
def prefetch(typingctx, array, index):  # pragma: no cover - compiled
    """Ask the memory system for ``array[index]``'s cache line and go on (LLVM's
    ``llvm.prefetch``: a read, high locality, data): a hint, with no effect on any result."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0i8")
        builder.call(function, [builder.bitcast(pointer, byte_pointer), ir.Constant(i32, 0), ir.Constant(i32, 3),
                                ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen
