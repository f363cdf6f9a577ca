"""Lowering a trained model into the circuit IR: the bridge between the torch half (layers,
model) and the torch-free circuit half.

What can be lowered: a :class:`gatelearn.model.LogicNet`, or any chain of gatelearn modules (an
``nn.Sequential``, nested ones, an ``nn.ModuleList``, or a single module) of, in this order:

- optionally an encoder (one of :data:`gatelearn.layers.encoders.ENCODERS`); without one the
  circuit reads bits, as the torch layers do in eval mode (both refuse values other than 0 / 1);
- layers of declared kinds (:mod:`gatelearn.layers.kinds`: logic, conv, orpool, flatten), each
  appending its hard (eval-mode) gates through its kind's lowering;
- optionally a head of a declared kind (:mod:`gatelearn.layers.heads`: GroupSum, the binary
  head). Without one the circuit's outputs are the last layer's bits (flattened in torch's
  order), a plain circuit without a head.

Anything else (another module, an encoder that is not first, a head that is not last, a layer
whose input has the wrong shape) is one InputError naming the module. The circuit computes
exactly what the chain's ``eval()`` computes and accepts the inputs it accepts: the encoder
becomes the IR's input encoding (its bit table and its input contract) and the head is lowered
as ``head`` says:

``"ir"`` (default)  the head stays the IR's :class:`~gatelearn.circuit.ir.Head` (a GroupSum head
                    as before; a binary head as the equivalent GroupSum, see
                    :mod:`gatelearn.layers.heads`), which every backend and proof understands.
``"gates"``         the head is built from 2-input gates, so ``optimize`` and ABC see the whole
                    design; the outputs are the class index in binary, least significant bit
                    first, and the circuit has no IR head. ``meta["head"]`` says so.

The model's state is checked first (:func:`gatelearn.model.check_state`): a model built or
edited in Python can hold a wiring index outside its layer (which NumPy would read from the
other end and C from wherever it points), a NaN weight or a NaN threshold; lowering refuses it
with an InputError naming the tensor.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from torch import nn

from .circuit import arith
from .circuit.builder import CircuitBuilder
from .circuit.ir import Circuit, InputEncoding
from .errors import InputError
from .layers.encoders import ENCODERS
from .layers.heads import HEAD_LOWERINGS, HEADS, head_kind_of
from .layers.kinds import KINDS, check_size, kind_of
from .model import check_state

__all__ = ["lower", "HEAD_LOWERINGS"]

_ACCEPTED = (f"an encoder ({', '.join(c.__name__ for c in ENCODERS.values())}) first, then layers "
             f"({', '.join(sorted(KINDS))}), then a head ({', '.join(sorted(HEADS))})")


def lower(model: nn.Module, head: str = "ir", input_shape: Sequence[int] | None = None) -> Circuit:
    """Lower ``model`` (a LogicNet, or a chain of gatelearn modules: see the module docstring)
    into a :class:`Circuit` that computes what ``model.eval()`` computes.

    ``head``: ``"ir"`` keeps the head as the IR's Head; ``"gates"`` builds it from gates (outputs:
    the class index, least significant bit first). ``input_shape``: the shape of one sample's
    input bits, needed only for a chain without an encoder whose first layer does not state its
    input size (a conv layer: ``(channels, height, width)``).

    Raises InputError for a module that cannot be lowered, an invalid state, or a bad argument."""
    if head not in HEAD_LOWERINGS:
        raise InputError(f"lower: head must be one of {', '.join(map(repr, HEAD_LOWERINGS))}, got {head!r}")
    if not isinstance(model, nn.Module):
        raise InputError(f"lower needs a torch.nn.Module, got {type(model).__name__}")
    check_state(model)
    chain = _chain(model)
    encoder, layers, head_module = _split(chain)
    shape = _input_shape(encoder, layers, head_module, input_shape)
    n = math.prod(shape)
    builder = CircuitBuilder(n)
    nodes = np.arange(n, dtype=np.int64).reshape(shape)
    for i, (name, layer) in enumerate(layers):
        builder.current_layer = i
        nodes = _lower_layer(name, layer, builder, nodes)
    meta = _meta(model, chain)
    if head_module is None:
        if head == "gates":
            raise InputError("lower(head='gates') builds the head from gates, but this model has no head "
                             f"(its modules: {', '.join(type(m).__name__ for _, m in chain)})")
        outputs, ir_head = nodes.reshape(-1), None
    else:
        builder.current_layer = len(layers)     # the head's gates are tagged as one more layer
        outputs, ir_head = _lower_head(*head_module, builder, nodes, head, meta)
    # Bits given as they are need no encoder in the circuit.
    encoding = None
    if encoder is not None and getattr(encoder, "kind", None) != "bits":
        encoding = InputEncoding.from_bit_table(encoder.bit_table(), encoder.in_features,
                                                getattr(getattr(encoder, "contract", None), "categories", None))
    return builder.build(outputs, ir_head, encoding, meta)


def _what(name: str, module: nn.Module) -> str:
    return f"module {name!r} ({type(module).__name__})"


def _chain(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """``model`` as a flat list of (name, module): a LogicNet (or any module with ``encoder``,
    ``layers`` and ``head``) is its encoder, layers and head; a Sequential or ModuleList its
    children, recursively; anything else itself."""
    if all(hasattr(model, a) for a in ("encoder", "layers", "head")) and isinstance(model.layers, nn.Module):
        return ([(f"{prefix}encoder", model.encoder)] + _chain(model.layers, f"{prefix}layers.")
                + [(f"{prefix}head", model.head)])
    if isinstance(model, (nn.Sequential, nn.ModuleList)):
        return [item for name, child in model.named_children() for item in _chain(child, f"{prefix}{name}.")]
    return [(prefix.rstrip(".") or type(model).__name__, model)]


def _is_encoder(module: nn.Module) -> bool:
    return isinstance(module, tuple(ENCODERS.values()))


def _is_layer(module: nn.Module) -> bool:
    try:
        kind_of(module)
    except InputError:
        return False
    return True


def _split(chain):
    """(encoder or None, [(name, layer)], (name, head) or None), or an InputError naming the first
    module that does not fit: encoder first, layers, head last."""
    if not chain:
        raise InputError(f"lower: the model holds no modules to lower; it needs {_ACCEPTED}")
    for pos, (name, module) in enumerate(chain):
        if _is_encoder(module):
            if pos != 0:
                raise InputError(f"cannot lower {_what(name, module)}: an encoder must be the first module "
                                 "(it turns raw features into the bits the layers read)")
        elif head_kind_of(module) is not None:
            if pos != len(chain) - 1:
                raise InputError(f"cannot lower {_what(name, module)}: a head must be the last module")
        elif not _is_layer(module):
            raise InputError(f"cannot lower {_what(name, module)}: it is not a gatelearn layer; a model to lower "
                             f"is {_ACCEPTED}")
    encoder = chain[0][1] if _is_encoder(chain[0][1]) else None
    rest = chain[1:] if encoder is not None else chain
    head = rest[-1] if rest and head_kind_of(rest[-1][1]) is not None else None
    layers = rest[:-1] if head is not None else rest
    return encoder, layers, head


def _input_shape(encoder, layers, head, given) -> tuple[int, ...]:
    """The shape of one sample's input bits: the encoder's output, else ``given``, else the
    input size of the first layer that states one (a dense layer, or a conv layer built with
    ``in_size``, after any flatten layers)."""
    if given is not None:
        if isinstance(given, (str, bytes)) or not hasattr(given, "__len__") or len(given) not in (1, 3):
            raise InputError(f"lower: input_shape must be (bits,) or (channels, height, width), got {given!r}")
        given = tuple(check_size("lower: input_shape entry", v) for v in given)
    if encoder is not None:
        shape = tuple(getattr(encoder, "out_shape", (encoder.out_features,)))
        if given is not None and given != shape:
            raise InputError(f"lower: input_shape {given} differs from the encoder's output shape {shape}")
        return shape
    if given is not None:
        return given
    for _, layer in layers:
        if kind_of(layer).name == "logic":
            return (int(layer.in_features),)
        if getattr(layer, "in_size", None) is not None:     # a conv layer built for one image size
            return (int(layer.in_channels), *map(int, layer.in_size))
        if not isinstance(layer, nn.Flatten):
            break
    first = layers[0] if layers else head
    raise InputError(f"lower: the model has no encoder and its first module, {_what(*first)}, does not state the "
                     "size of its input; give it: lower(model, input_shape=(channels, height, width)) "
                     "or input_shape=(bits,)")


def _lower_layer(name: str, layer: nn.Module, builder: CircuitBuilder, nodes: np.ndarray) -> np.ndarray:
    """``layer``'s gates appended to ``builder``; its input shape checked as torch checks it."""
    kind = kind_of(layer)
    if isinstance(layer, nn.Flatten) and (layer.start_dim, layer.end_dim) != (1, -1):
        # the 'flatten' lowering flattens a whole sample, which is nn.Flatten's default only
        raise InputError(f"cannot lower {_what(name, layer)}: only nn.Flatten() with its default dims "
                         f"(start_dim=1, end_dim=-1) flattens one whole sample; got start_dim={layer.start_dim}, "
                         f"end_dim={layer.end_dim}")
    if kind.name == "logic" and nodes.ndim != 1:
        # LogicLayer's forward refuses image-shaped input; its lowering would flatten it silently.
        raise InputError(f"cannot lower {_what(name, layer)}: a logic layer reads a flat vector (batch, n), but "
                         f"its input is shaped {tuple(nodes.shape)} per sample; add nn.Flatten() before it")
    try:
        return kind.lower(layer, builder, nodes)
    except (InputError, ValueError) as exc:
        raise InputError(f"cannot lower {_what(name, layer)}: {exc}") from exc


def _lower_head(name: str, module: nn.Module, builder: CircuitBuilder, nodes: np.ndarray, how: str,
                meta: dict):
    """(outputs, IR head or None) of ``module`` lowered as ``how`` says; ``meta["head"]``
    describes the outputs, unless they are a GroupSum's under its IR Head, as they always were."""
    kind = head_kind_of(module)
    try:
        if how == "ir":
            outputs, ir_head = kind.lower_ir(module, builder, nodes)
        else:
            outputs, ir_head = kind.lower_gates(module, builder, nodes), None
    except (InputError, ValueError) as exc:
        raise InputError(f"cannot lower {_what(name, module)}: {exc}") from exc
    if how == "gates":
        meta["head"] = {"kind": kind.name, "classes": int(module.classes), "tau": float(module.tau), "lowered": how,
                        "layer": builder.current_layer, "outputs": "class index, least significant bit first",
                        "index_bits": arith.index_width(module.classes)}
    elif kind.ir_outputs is not None:
        meta["head"] = {"kind": kind.name, "classes": int(module.classes), "tau": float(module.tau), "lowered": how,
                        "layer": builder.current_layer, "outputs": kind.ir_outputs}
    return outputs, ir_head


def _meta(model: nn.Module, chain) -> dict:
    """What the backends print and document: for a LogicNet its spec, class names and schema;
    for a chain of modules, their kinds."""
    if all(hasattr(model, a) for a in ("encoder", "layers", "head")):
        spec = getattr(model, "spec", None) or {}
        meta = {"source": "gatelearn.model", "spec": spec or None}
        if spec.get("class_names"):
            meta["class_names"] = list(spec["class_names"])
        if spec.get("schema"):
            meta["schema"] = spec["schema"]
        return meta
    return {"source": "gatelearn.modules", "modules": [type(m).__name__ for _, m in chain]}
