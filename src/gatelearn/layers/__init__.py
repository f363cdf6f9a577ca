"""Logic layers: dense logic gates, the GroupSum head and input encoders (all torch.nn modules)."""
from .encoders import BitInput, OneHotEncoder, TabularEncoder, ThresholdEncoder, encoder_from_spec
from .groupsum import GroupSum
from .logic import LogicLayer

__all__ = ["LogicLayer", "GroupSum", "BitInput", "ThresholdEncoder", "OneHotEncoder",
           "TabularEncoder", "encoder_from_spec"]
