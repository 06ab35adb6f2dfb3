"""Random numbers for the kernels: the model's own NumPy stream, reached cheaply from numba.

Every kernel draws from the model's ``numpy.random.Generator``, so a run is reproducible from its
seed. Passing the Generator itself to a jitted function costs ~10 µs per call: numba unboxes it by
calling ``ctypes.cast`` on three of its function pointers every time: 40 % of what the tumour
rules of ~1,800 cells take on a 100² lattice (docs/decisions/0007). A :class:`StreamHandle`
holds the six addresses numba would read, taken once; inside a kernel it becomes the very same
bit-generator structure, so the draws are the same stream, in the same order, as with the
Generator (``tests/test_rng.py`` checks it draw for draw).

Kernels draw only through :func:`uniform`, :func:`random_index` and :func:`shuffle`. Compiled,
these accept a ``StreamHandle`` or a ``Generator``; run as plain Python (a kernel's ``py_func``,
the reference the kernel tests compare against) they take a ``Generator``.

A handle holds a reference to its bit generator, so its addresses stay valid while it exists.
A copied or unpickled handle is rebuilt from its own copy of the bit generator, so it draws
from that copy.
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable
from numba.np.random.generator_core import next_double
from numba.np.random.random_methods import buffered_bounded_lemire_uint32, random_interval

_BIT_GENERATOR = types.NumPyRandomBitGeneratorType("bit_generator")


class _Addresses(NamedTuple):
    state_address: int
    state: int
    next_uint64: int
    next_uint32: int
    next_double: int
    bit_generator: int


class StreamHandle(_Addresses):
    """Addresses of a NumPy bit generator's state and of its C draw functions.

    numba sees the six integers; the instance also keeps the bit generator itself (in
    ``owner``, outside the tuple) so that the addresses cannot outlive it. A copy or an
    unpickled handle is rebuilt from its own copy of the bit generator, never from the
    addresses, which are only valid in the process and for the object they were read from.
    """

    owner: np.random.BitGenerator

    def __reduce__(self) -> tuple[object, tuple[np.random.BitGenerator]]:
        return _handle_of, (self.owner,)

    def _replace(self, **fields: int) -> StreamHandle:
        raise TypeError("a stream handle is made by stream_handle(rng), not edited")


def stream_handle(rng: np.random.Generator) -> StreamHandle:
    """The handle of ``rng``'s bit generator."""
    return _handle_of(rng.bit_generator)


def _handle_of(bit_generator: np.random.BitGenerator) -> StreamHandle:
    interface = bit_generator.ctypes

    def address(function: object) -> int:
        return int(ctypes.cast(function, ctypes.c_void_p).value)

    handle = StreamHandle(
        state_address=int(interface.state_address),
        state=int(interface.state.value),
        next_uint64=address(interface.next_uint64),
        next_uint32=address(interface.next_uint32),
        next_double=address(interface.next_double),
        bit_generator=int(interface.bit_generator.value),
    )
    handle.owner = bit_generator
    return handle


def _is_handle(typ: types.Type) -> bool:
    return isinstance(typ, types.BaseNamedTuple) and typ.instance_class is StreamHandle


@intrinsic
def _bit_generator_of(typingctx, handle):
    """numba's bit-generator structure, filled from a handle instead of unboxed from Python."""
    if not _is_handle(handle):
        return None

    def codegen(context, builder, signature, args):
        fields = cgutils.unpack_tuple(builder, args[0])
        bit_generator = cgutils.create_struct_proxy(_BIT_GENERATOR)(context, builder)
        bit_generator.parent = context.get_constant_null(types.pyobject)
        for name, value in zip(StreamHandle._fields, fields, strict=True):
            member = "fnptr_" + name if name.startswith("next_") else name
            setattr(bit_generator, member, value)
        return bit_generator._getvalue()

    return _BIT_GENERATOR(handle), codegen


@register_jitable
def _bit_generator_attribute(rng):
    return rng.bit_generator


def _bit_generator_getter(rng: types.Type):
    """For a compiled kernel: how to reach the bit generator of ``rng`` (or None)."""
    if isinstance(rng, types.NumPyRandomGeneratorType):
        return _bit_generator_attribute
    if _is_handle(rng):
        return _bit_generator_of
    return None


def uniform(rng: np.random.Generator) -> float:
    """A float in [0, 1): the draw ``rng.random()`` makes."""
    return rng.random()


def random_index(rng: np.random.Generator, n: int) -> int:
    """A uniform integer in [0, n), n >= 1: the draw ``rng.integers(0, n)`` makes."""
    return int(rng.integers(0, n))


def shuffle(rng: np.random.Generator, values: np.ndarray) -> None:
    """Shuffle a 1-D array in place: the permutation ``rng.shuffle(values)`` makes."""
    rng.shuffle(values)


@overload(uniform)
def _uniform(rng):
    get = _bit_generator_getter(rng)
    if get is None:
        return None

    def impl(rng):
        return next_double(get(rng))

    return impl


@overload(random_index)
def _random_index(rng, n):
    # numba's own scalar Generator.integers allocates a one-element array per draw (~45 ns);
    # this calls the bounded-integer routine behind it directly: same draw, same stream.
    get = _bit_generator_getter(rng)
    if get is None:
        return None

    def impl(rng, n):
        if n <= 1:
            return 0  # like integers(0, 1): nothing is drawn
        return np.int64(buffered_bounded_lemire_uint32(get(rng), np.uint32(n - 1)))

    return impl


@overload(shuffle)
def _shuffle(rng, values):
    # NumPy's Generator.shuffle of a 1-D array: Fisher–Yates from the end, each index drawn by
    # masked rejection (random_interval). numba's own Generator.shuffle draws the same but
    # swaps through slices, ~6× slower.
    get = _bit_generator_getter(rng)
    if get is None:
        return None

    def impl(rng, values):
        bit_generator = get(rng)
        for i in range(values.shape[0] - 1, 0, -1):
            j = np.int64(random_interval(bit_generator, np.uint64(i)))
            held = values[i]
            values[i] = values[j]
            values[j] = held

    return impl


@njit(cache=True)
def shuffled_sites(rng, layer, selected, out):
    """Flat indices of the sites whose code in ``layer`` is selected, in random order.

    ``layer`` holds one-byte codes (C-contiguous, as the model's layers); ``selected`` has 256
    entries, True at the codes wanted (indexed by the code's byte, so a negative int8 code
    ``c`` is entry ``256 + c``); the indices are written to the start of ``out`` (at least
    ``layer.size`` long) in ascending order and shuffled there, which draws what
    ``rng.shuffle(np.flatnonzero(mask))`` draws. Returns how many there are.
    """
    if layer.itemsize != 1 or selected.shape[0] != 256 or out.shape[0] < layer.size:
        raise ValueError("shuffled_sites: one-byte codes, a 256-entry table, room for every site")
    flat = layer.reshape(-1).view(np.uint8)
    # Sites are read eight at a time: an all-zero word (eight empty sites, or no immune
    # cells) is skipped whole when code 0 is not selected, as on most of a sparse lattice.
    skip_zero_words = not selected[0]
    words = flat[: flat.shape[0] // 8 * 8].view(np.uint64)
    n = 0
    for w in range(words.shape[0]):
        if skip_zero_words and words[w] == 0:
            continue
        for i in range(8 * w, 8 * w + 8):
            if selected[flat[i]]:
                out[n] = i
                n += 1
    for i in range(8 * words.shape[0], flat.shape[0]):
        if selected[flat[i]]:
            out[n] = i
            n += 1
    shuffle(rng, out[:n])
    return n
