"""LogicLayer: a layer of learned 2-input gates with fixed random wiring (layer kind ``logic``)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..gates import NUM_GATES, coeffs_tensor
from ..kernels import logic_forward
from . import parametrization as P
from .kinds import LayerKind, check_finite, check_index, check_number, check_size, register
from .wiring import CONNECTIONS, make_wiring


def check_binary(x: torch.Tensor, where: str) -> None:
    """Raise unless every value of ``x`` is exactly 0 or 1 (what a hard circuit computes on)."""
    if not bool(((x == 0) | (x == 1)).all()):
        bad = x[(x != 0) & (x != 1)].flatten()[:3].tolist()
        raise InputError(f"{where} needs binary inputs (0 or 1) in eval mode; found values such as {bad}. "
                         "Encode features with an input encoder (thresholds / one-hot) first.")


def check_features(x: torch.Tensor, in_features: int, where: str) -> None:
    if x.dim() != 2 or x.shape[1] != in_features:
        raise InputError(f"{where} expects input of shape (batch, {in_features}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{where} expects a floating-point tensor, got dtype {x.dtype}")


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.factor, None


class LogicLayer(nn.Module):
    """``out_features`` gates, gate j computing f_j(x[:, idx_a[j]], x[:, idx_b[j]]).

    ``train()`` computes the relaxation c0 + ca*a + cb*b + cab*a*b (soft mixture, or a Gumbel
    straight-through sample per gate); ``eval()`` computes the discrete circuit: every gate is
    its hard gate and the inputs must be bits. The wiring is kept in buffers so it is part of
    the state dict.
    """

    def __init__(self, in_features: int, out_features: int, *, connections: str = "random",
                 parametrization: str = "softmax16", init: str = "residual", sampling: str = "soft",
                 gumbel_tau: float = 1.0, grad_factor: float = 1.0, seed: int | None = None):
        super().__init__()
        P.check_choice("connections", connections, CONNECTIONS)
        P.check_choice("parametrization", parametrization, P.PARAMETRIZATIONS)
        P.check_choice("init", init, P.INITS)
        P.check_choice("sampling", sampling, P.SAMPLINGS)
        gumbel_tau = check_number("gumbel_tau", gumbel_tau, positive=True)
        grad_factor = check_number("grad_factor", grad_factor)
        self.in_features = check_size("a logic layer's inputs", in_features)
        self.out_features = check_size("a logic layer's gates ('out')", out_features)
        self.connections = connections
        self.parametrization = parametrization
        self.init = init
        self.sampling = sampling
        self.gumbel_tau = float(gumbel_tau)
        self.grad_factor = float(grad_factor)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        idx_a, idx_b = make_wiring(self.in_features, self.out_features, connections, gen)
        self.register_buffer("idx_a", idx_a)
        self.register_buffer("idx_b", idx_b)
        self.weight = nn.Parameter(P.init_weights(parametrization, init, self.out_features, gen))
        # The fused kernel's prepared wiring (int32 indices, inverse index), rebuilt only when the
        # idx buffers change; not state: it is derived from idx_a / idx_b.
        self._kernel_cache: dict = {}

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, connections={self.connections!r}, "
                f"parametrization={self.parametrization!r}, sampling={self.sampling!r}")

    def gate_count(self) -> int:
        return self.out_features

    def check_state(self, prefix: str = "") -> None:
        """Raise InputError (naming the tensor) unless the wiring reads existing inputs and the
        weights are finite: a -1 in ``idx_a`` would read the last input in NumPy and garbage in C."""
        for name in ("idx_a", "idx_b"):
            t = getattr(self, name)
            if tuple(t.shape) != (self.out_features,):
                raise InputError(f"{prefix}{name} has shape {tuple(t.shape)}, expected ({self.out_features},)")
            check_index(prefix, name, t, self.in_features, "inputs of the layer")
        shape = (self.out_features, P.num_params(self.parametrization))
        if tuple(self.weight.shape) != shape:
            raise InputError(f"{prefix}weight has shape {tuple(self.weight.shape)}, expected {shape}")
        check_finite(prefix, "weight", self.weight)

    def coefficients(self) -> torch.Tensor:
        """(out_features, 4) coefficients used by the next forward in the current mode."""
        if self.training:
            return P.coefficients(self.parametrization, self.weight, sampling=self.sampling,
                                  gumbel_tau=self.gumbel_tau)
        return coeffs_tensor(self.weight.dtype, self.weight.device)[self.gate_ids()]

    @torch.no_grad()
    def gate_ids(self) -> torch.Tensor:
        """The discrete gate id (0..15) of every gate, int64 of shape (out_features,)."""
        return P.hard_gate_ids(self.parametrization, self.weight.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, self.in_features, "LogicLayer")
        if not self.training:
            check_binary(x, "LogicLayer")
        if self.grad_factor != 1.0 and torch.is_grad_enabled() and x.requires_grad:
            x = _ScaleGrad.apply(x, self.grad_factor)
        return logic_forward(x, self.idx_a, self.idx_b, self.coefficients().to(x.dtype),
                             cache=self._kernel_cache)


# ---------------------------------------------------------------------------- layer kind 'logic'
LOGIC_OPTIONS = ("connections", "parametrization", "init", "sampling", "gumbel_tau", "grad_factor")


def _build(spec: dict, in_shape: tuple, seed: int | None):
    if len(in_shape) != 1:
        raise InputError(f"a 'logic' layer needs flat input, got shape {in_shape}; add a 'flatten' layer first")
    if "out" not in spec:
        raise InputError(f"a 'logic' layer spec needs 'out' (its number of gates), got {spec}")
    opts = {k: spec[k] for k in LOGIC_OPTIONS if k in spec}
    layer = LogicLayer(in_shape[0], check_size("a logic layer's 'out'", spec["out"]), seed=seed, **opts)
    return layer, (layer.out_features,)


def check_gate_ids(op: np.ndarray, where: str) -> np.ndarray:
    """``op`` unchanged if every gate id is in 0..15, else an InputError (before any narrowing)."""
    if op.size and (op.min() < 0 or op.max() >= NUM_GATES):
        raise InputError(f"{where}: gate id {int(op.max() if op.max() >= NUM_GATES else op.min())} "
                         f"outside 0..{NUM_GATES - 1}")
    return op


def _lower(layer: LogicLayer, builder, nodes: np.ndarray) -> np.ndarray:
    nodes = nodes.reshape(-1)
    if len(nodes) != layer.in_features:
        raise InputError(f"LogicLayer lowering: {len(nodes)} input nodes for a layer of {layer.in_features} inputs")
    op = check_gate_ids(layer.gate_ids().cpu().numpy(), "LogicLayer")
    return builder.add_gates(op, nodes[layer.idx_a.cpu().numpy()], nodes[layer.idx_b.cpu().numpy()])


# Residual initialisation keeps deep networks trainable (2024 paper) and is harmless for shallow ones.
register(LayerKind("logic", LogicLayer, _build, _lower,
                   defaults={"connections": "random", "parametrization": "softmax16", "init": "residual",
                             "sampling": "soft"},
                   options=("out", *LOGIC_OPTIONS)))
