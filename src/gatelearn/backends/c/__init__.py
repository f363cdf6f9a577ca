"""The C target: :mod:`.emit` generates bit-sliced C99 from the templates in ``templates/``
(the numbers come from :mod:`.layout`), :mod:`.run` builds it with the system compiler and calls
it through ctypes (:class:`CProgram`)."""
from .emit import DEFAULT_WORD_BITS, CEmitter, generate_c
from .run import CProgram, build_shared, cache_dir, compile_c, compiler, pack_inputs, throughput, unpack_outputs

__all__ = ["CEmitter", "generate_c", "DEFAULT_WORD_BITS", "CProgram", "compile_c", "build_shared",
           "cache_dir", "compiler", "throughput", "pack_inputs", "unpack_outputs"]
