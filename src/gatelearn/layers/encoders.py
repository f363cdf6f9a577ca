"""Input encoders: modules that turn raw features into bits. They are part of the model and its
state dict, so a saved model carries its own encoding.

Every encoder describes each output bit as a comparison ``x[feature] <op> value`` with op ``gt``
(threshold) or ``eq`` (one-hot category); ``bit_table()`` returns that description, which the
circuit IR and every backend (C, Verilog) use to encode raw inputs exactly as the model does.

Bits are ordered feature-major: all bits of feature 0, then feature 1, and so on.

Every encoder also has ``contract``, the torch-free :class:`gatelearn.circuit.inputs.InputContract`
of the raw rows it accepts (real numbers, category codes, bits). ``forward`` checks its input
through it, and the lowering puts it into the circuit, so the model and every backend refuse the
same rows with the same message.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..circuit.inputs import InputContract
from ..errors import InputError
from .kinds import check_size


def _check_raw(x: torch.Tensor, contract: InputContract, where: str) -> torch.Tensor:
    """``x`` checked against ``contract`` (the same check, and message, as every backend's)."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{where} expects a torch.Tensor, got {type(x).__name__}")
    # The contract is torch-free: it reads the values as a NumPy array (a view for CPU tensors).
    view = x.detach()
    if view.device.type != "cpu":
        view = view.cpu()
    if view.dtype in (torch.bfloat16, torch.float16):     # no NumPy type; exact in float32
        view = view.to(torch.float32)
    elif view.dtype == torch.complex32:
        view = view.to(torch.complex64)                   # refused by the contract as complex
    checked = contract.check(view.numpy())
    return x.reshape(checked.shape) if tuple(checked.shape) != tuple(x.shape) else x


class BitTable:
    """Per output bit: (feature index, op, value); op is 'gt' (x > value) or 'eq' (x == value)."""

    def __init__(self, feature: np.ndarray, op: list[str], value: np.ndarray):
        self.feature = np.asarray(feature, dtype=np.int64)
        self.op = list(op)
        self.value = np.asarray(value, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.op)

    def to_dict(self) -> dict:
        return {"feature": self.feature.tolist(), "op": self.op, "value": self.value.tolist()}


class BitInput(nn.Module):
    """Inputs that are already bits: passes them through and checks they are 0 or 1."""

    kind = "bits"

    def __init__(self, features: int):
        super().__init__()
        self.in_features = self.out_features = check_size("BitInput features", features)
        self.contract = InputContract.bits(self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_raw(x, self.contract, "BitInput")
        return x.float() if not x.is_floating_point() else x

    @classmethod
    def from_spec(cls, spec: dict) -> BitInput:
        return cls(spec["features"])

    def spec(self) -> dict:
        return {"kind": self.kind, "features": self.in_features}

    def bit_table(self) -> BitTable:
        n = self.in_features
        return BitTable(np.arange(n), ["gt"] * n, np.full(n, 0.5))


class ThresholdEncoder(nn.Module):
    """Thermometer bits: bit (f, k) = x[:, f] > thresholds[f, k]. Thresholds are a buffer.

    Build with fixed thresholds, ``uniform(...)`` over a range, or ``fit(x, k)`` to data quantiles.
    """

    kind = "thresholds"

    def __init__(self, features: int, per_feature: int = 1, thresholds: torch.Tensor | None = None,
                 image: tuple[int, int, int] | None = None, crop: tuple[int, int, int, int] | None = None):
        super().__init__()
        self.in_features = check_size("ThresholdEncoder features", features)
        self.per_feature = check_size("ThresholdEncoder per_feature", per_feature)
        self.out_features = check_size("ThresholdEncoder bits (features x per_feature)",
                                       self.in_features * self.per_feature)
        self.contract = InputContract.reals(self.in_features)
        # With an image shape (C, H, W) the raw features are channel-major pixels and the bits come
        # out as an image of C*K channels (channel c*K + k = thermometer bit k of channel c), the
        # input of convolutional layers; bit_table follows the same (flattened) order.
        self.image = None
        if image is not None:
            image = tuple(check_size("ThresholdEncoder image size", d) for d in image)
            if len(image) != 3 or image[0] * image[1] * image[2] != self.in_features:
                raise ValueError(f"ThresholdEncoder image shape must be (C, H, W) with C*H*W = "
                                 f"{self.in_features} features, got {image}")
            self.image = image
            self.out_shape = (image[0] * self.per_feature, image[1], image[2])
        # crop (top, left, height, width): only that window of the image is encoded, e.g. the
        # central 20x20 of MNIST, whose border pixels are almost always 0 and would only waste
        # the first layer's gates. The model still takes the whole raw image (thresholds stay
        # per raw pixel), so deployed circuits read the same input as the model.
        self.crop = None
        if crop is not None:
            if self.image is None:
                raise ValueError("ThresholdEncoder crop needs an image shape (C, H, W)")
            crop = tuple(check_size("ThresholdEncoder crop", v, low=0) for v in crop)
            _, h, w = self.image
            if (len(crop) != 4 or min(crop) < 0 or crop[2] < 1 or crop[3] < 1
                    or crop[0] + crop[2] > h or crop[1] + crop[3] > w):
                raise ValueError(f"ThresholdEncoder crop must be (top, left, height, width) inside the "
                                 f"{h}x{w} image, got {crop}")
            self.crop = crop
            self.out_shape = (self.image[0] * self.per_feature, crop[2], crop[3])
            self.out_features = self.out_shape[0] * crop[2] * crop[3]
        if thresholds is None:
            thresholds = torch.zeros(self.in_features, self.per_feature)
        thresholds = torch.as_tensor(thresholds, dtype=torch.float32).reshape(self.in_features, self.per_feature)
        if bool(torch.isnan(thresholds).any()):
            raise ValueError("ThresholdEncoder: thresholds contain NaN")
        self.register_buffer("thresholds", thresholds.clone())

    def check_state(self, prefix: str = "") -> None:
        """Raise InputError unless the thresholds are numbers (a NaN threshold makes its bit 0
        for every input, silently)."""
        t = self.thresholds
        if not t.is_floating_point():
            raise InputError(f"{prefix}thresholds must be floating-point, got dtype {t.dtype}")
        nan = torch.isnan(t)
        if bool(nan.any()):
            f, k = (int(i) for i in nan.nonzero()[0])
            raise InputError(f"{prefix}thresholds hold NaN ({int(nan.sum())} of {t.numel()}, first at feature "
                             f"{f}, threshold {k}); thresholds must be numbers")

    @classmethod
    def uniform(cls, features: int, per_feature: int, low: float, high: float) -> ThresholdEncoder:
        """Thresholds evenly spaced strictly inside (low, high), the same for every feature."""
        t = torch.linspace(low, high, per_feature + 2)[1:-1]
        return cls(features, per_feature, t.expand(features, per_feature))

    @classmethod
    def fit(cls, x: torch.Tensor | np.ndarray, per_feature: int) -> ThresholdEncoder:
        """Thresholds at the data's quantiles k/(per_feature+1), k = 1..per_feature, per feature."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if x.dim() != 2 or x.shape[0] == 0:
            raise InputError(f"ThresholdEncoder.fit expects data of shape (samples, features), got {tuple(x.shape)}")
        _check_raw(x, InputContract.reals(x.shape[1]), "ThresholdEncoder.fit")
        q = torch.arange(1, per_feature + 1, dtype=torch.float32) / (per_feature + 1)
        return cls(x.shape[1], per_feature, torch.quantile(x, q, dim=0).T.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_raw(x, self.contract, "ThresholdEncoder")
        return self._arrange(x.to(torch.float32).unsqueeze(-1) > self.thresholds)

    def relaxed(self, x: torch.Tensor, width: float) -> torch.Tensor:
        """A training-time relaxation of the bits: a linear ramp ``width`` raw units wide centred
        on each threshold, ``clamp((x - t) / width + 1/2, 0, 1)``, in the layout of ``forward``.

        As ``width`` shrinks it becomes ``forward``'s hard bits, which stay what the model (and
        every circuit) computes in eval mode. With MNIST's threshold 127 and ``width=255`` the
        values are the grey levels ``x / 255`` (to half a level), the input the reference code
        trains on: the first layer then also learns from how dark a pixel is.
        """
        width = float(width)
        if not width > 0:
            raise InputError(f"ThresholdEncoder.relaxed: width must be > 0 (raw input units), got {width}")
        x = _check_raw(x, self.contract, "ThresholdEncoder")
        ramp = (x.to(torch.float32).unsqueeze(-1) - self.thresholds) / width + 0.5
        return self._arrange(ramp.clamp_(0.0, 1.0))

    def _arrange(self, values: torch.Tensor) -> torch.Tensor:
        """(B, features, K) values -> float32 output in bit order (image-shaped when ``image``)."""
        batch = values.shape[0]
        if self.image is not None:
            c, h, w = self.image
            # (B, C, H, W, K) -> (B, C, K, H, W) -> (B, C*K, H, W)
            values = self._window(values.view(batch, c, h, w, self.per_feature)).permute(0, 1, 4, 2, 3)
            return values.reshape(batch, *self.out_shape).to(torch.float32)
        return values.reshape(batch, self.out_features).to(torch.float32)

    @classmethod
    def from_spec(cls, spec: dict) -> ThresholdEncoder:
        return cls(spec["features"], spec.get("per_feature", 1), image=spec.get("image"), crop=spec.get("crop"))

    def spec(self) -> dict:
        spec = {"kind": self.kind, "features": self.in_features, "per_feature": self.per_feature}
        if self.image is not None:
            spec["image"] = list(self.image)
        if self.crop is not None:
            spec["crop"] = list(self.crop)
        return spec

    def _window(self, a):
        """The crop window of an array (tensor or ndarray) shaped (..., H, W, K)."""
        if self.crop is None:
            return a
        top, left, ch, cw = self.crop
        return a[..., top:top + ch, left:left + cw, :]

    def _bit_order(self) -> np.ndarray:
        """(feature, k) index of every output bit in output order, as flat indices f*K + k."""
        n, k = self.in_features, self.per_feature
        flat = np.arange(n * k)
        if self.image is None:
            return flat
        c, h, w = self.image
        # output (c, k, y, x) <- threshold table entry (feature = (c, y, x), k)
        return self._window(flat.reshape(c, h, w, k)).transpose(0, 3, 1, 2).reshape(-1)

    def bit_table(self) -> BitTable:
        n = self.out_features
        order = self._bit_order()
        return BitTable(order // self.per_feature, ["gt"] * n,
                        self.thresholds.detach().cpu().double().numpy().reshape(-1)[order])


class OneHotEncoder(nn.Module):
    """One bit per category: bit (f, c) = x[:, f] == c. Inputs are integer category codes."""

    kind = "onehot"

    def __init__(self, categories: list[int]):
        super().__init__()
        if isinstance(categories, (str, bytes)) or not hasattr(categories, "__len__") or not len(categories):
            raise InputError(f"OneHotEncoder needs a list of category counts (>= 1 per feature), got {categories!r}")
        check_size("OneHotEncoder features", len(categories))
        self.categories = [check_size("OneHotEncoder categories", c) for c in categories]
        self.in_features = len(self.categories)
        self.out_features = check_size("OneHotEncoder bits (the sum of the categories)", sum(self.categories))
        self.contract = InputContract(np.array(self.categories, np.int64))
        self.register_buffer("offsets", torch.tensor([0] + self.categories[:-1]).cumsum(0), persistent=False)
        self.register_buffer("counts", torch.tensor(self.categories), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_raw(x, self.contract, "OneHotEncoder")
        # codes as the contract judged them: in float32 (2.0000000001 is the code 2 everywhere)
        codes = x.to(torch.float32).long()
        out = torch.zeros(x.shape[0], self.out_features)
        out.scatter_(1, codes + self.offsets, 1.0)
        return out

    @classmethod
    def from_spec(cls, spec: dict) -> OneHotEncoder:
        return cls(spec["categories"])

    def spec(self) -> dict:
        return {"kind": self.kind, "categories": self.categories}

    def bit_table(self) -> BitTable:
        feat = np.repeat(np.arange(self.in_features), self.categories)
        val = np.concatenate([np.arange(c) for c in self.categories])
        return BitTable(feat, ["eq"] * len(feat), val)


class TabularEncoder(nn.Module):
    """A mix of one-hot and threshold columns, one sub-encoder per raw column, bits concatenated.

    ``columns`` is a list of ``{"kind": "onehot", "categories": n}`` or
    ``{"kind": "thresholds", "per_feature": k}`` dicts, one per raw input column.
    """

    kind = "tabular"

    def __init__(self, columns: list[dict]):
        super().__init__()
        if isinstance(columns, (str, bytes, dict)) or not hasattr(columns, "__len__") or not len(columns):
            raise InputError(f"TabularEncoder needs a list of columns, got {columns!r}")
        check_size("TabularEncoder columns", len(columns))
        if not all(isinstance(c, dict) for c in columns):
            raise InputError(f"TabularEncoder columns must be objects such as {{'kind': 'onehot', 'categories': 3}}, "
                             f"got {columns!r}")
        self.columns = [dict(c) for c in columns]
        encs = []
        for i, col in enumerate(self.columns):
            if col.get("kind") == "onehot" and "categories" in col:
                encs.append(OneHotEncoder([col["categories"]]))
            elif col.get("kind") == "thresholds" and "per_feature" in col:
                encs.append(ThresholdEncoder(1, col["per_feature"]))
            else:
                raise ValueError(f"TabularEncoder column {i} must be {{'kind': 'onehot', 'categories': n}} or "
                                 f"{{'kind': 'thresholds', 'per_feature': k}}, got {col}")
        self.encoders = nn.ModuleList(encs)
        self.in_features = len(encs)
        self.out_features = check_size("TabularEncoder bits", sum(e.out_features for e in encs))
        self.contract = InputContract.concat([e.contract for e in encs])

    @classmethod
    def fit(cls, x: np.ndarray, columns: list[dict]) -> TabularEncoder:
        """Build and fit the threshold columns to the quantiles of ``x`` (samples, columns)."""
        enc = cls(columns)
        x = np.asarray(x, dtype=np.float32)
        for j, sub in enumerate(enc.encoders):
            if isinstance(sub, ThresholdEncoder):
                sub.thresholds.copy_(ThresholdEncoder.fit(x[:, j:j + 1], sub.per_feature).thresholds)
        return enc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_raw(x, self.contract, "TabularEncoder")   # whole rows: errors name the raw column
        return torch.cat([e(x[:, j:j + 1]) for j, e in enumerate(self.encoders)], dim=1)

    @classmethod
    def from_spec(cls, spec: dict) -> TabularEncoder:
        return cls(spec["columns"])

    def spec(self) -> dict:
        return {"kind": self.kind, "columns": self.columns}

    def bit_table(self) -> BitTable:
        tables = [e.bit_table() for e in self.encoders]
        return BitTable(np.concatenate([np.full(len(t), j) for j, t in enumerate(tables)]),
                        [op for t in tables for op in t.op],
                        np.concatenate([t.value for t in tables]))


ENCODERS = {cls.kind: cls for cls in (BitInput, ThresholdEncoder, OneHotEncoder, TabularEncoder)}


def encoder_from_spec(spec: dict) -> nn.Module:
    """The encoder a spec describes (``spec["kind"]`` names its class in ``ENCODERS``)."""
    kind = spec.get("kind")
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[kind].from_spec(spec)


def apply_encoder_override(encoder: nn.Module, override: dict | None) -> nn.Module:
    """A copy of a dataset's (fitted) encoder with ``override`` options merged over its spec.

    Presets use this to keep the dataset's thresholds while asking for image-shaped bits,
    ``{"kind": "thresholds", "per_feature": 1, "image": [1, 28, 28]}``, or a crop of them. The
    override must keep the encoder kind and its buffers' shapes (the raw features), since the
    fitted buffers are copied over. The one exception is ``"levels": [t1, t2, ...]`` (threshold
    encoders): these thresholds for every feature replace the dataset's, e.g. three grey levels
    per MNIST pixel instead of the single one at 127; ``per_feature`` becomes their number.
    """
    if not override:
        return encoder
    override = dict(override)
    levels = override.pop("levels", None)
    spec = {**encoder.spec(), **override}
    if spec.get("kind") != encoder.spec().get("kind"):
        raise InputError(f"encoder override changes the kind {encoder.spec().get('kind')!r} -> "
                         f"{spec.get('kind')!r}; only options of the dataset's encoder can be overridden")
    if levels is not None:
        if spec["kind"] != "thresholds":
            raise InputError(f"encoder override 'levels' needs a threshold encoder, not {spec['kind']!r}")
        t = torch.as_tensor(levels, dtype=torch.float32)
        if t.dim() != 1 or len(t) == 0 or not bool(torch.isfinite(t).all()) or bool((t[1:] <= t[:-1]).any()):
            raise InputError(f"encoder override 'levels' must be increasing thresholds, got {levels}")
        spec["per_feature"] = len(t)
        new = encoder_from_spec(spec)
        new.thresholds.copy_(t.expand(new.in_features, len(t)))
        return new
    new = encoder_from_spec(spec)
    old_state, new_state = encoder.state_dict(), new.state_dict()
    old_shapes = {k: tuple(v.shape) for k, v in old_state.items()}
    new_shapes = {k: tuple(v.shape) for k, v in new_state.items()}
    if old_shapes != new_shapes:
        raise InputError(f"encoder override {override} changes the encoder's fitted buffers ({old_shapes} -> "
                         f"{new_shapes}), i.e. its raw features or thresholds; it may only reshape or crop the bits")
    new.load_state_dict(old_state)
    return new
