"""Logic layers (torch.nn modules): dense logic gates, convolutional logic trees, OR pooling, the
heads (GroupSum, the binary head) and input encoders. Importing the package declares every layer
kind (:mod:`gatelearn.layers.kinds`) and head kind (:mod:`gatelearn.layers.heads`)."""
from . import conv, flatten, logic  # noqa: F401  (each module declares its layer kinds)
from .conv import LogicConv2d, OrPool2d
from .encoders import BitInput, OneHotEncoder, TabularEncoder, ThresholdEncoder, encoder_from_spec
from .groupsum import GroupSum
from .heads import HEADS, BinaryHead, HeadKind, head_kind_of
from .kinds import KINDS, LayerKind, kind_of, layer_defaults, register
from .logic import LogicLayer

__all__ = ["LogicLayer", "LogicConv2d", "OrPool2d", "GroupSum", "BinaryHead", "BitInput", "ThresholdEncoder",
           "OneHotEncoder", "TabularEncoder", "encoder_from_spec", "KINDS", "LayerKind", "kind_of",
           "layer_defaults", "register", "HEADS", "HeadKind", "head_kind_of"]
