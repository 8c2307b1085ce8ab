"""wordexperts: bidirectional attention as a mixture of continuous word experts.

Wibisono & Wang, UAI 2023. :class:`BidirectionalAttention` is the masked language model;
:class:`WordExperts` is the same family written as a CBOW model whose context average is
weighted by a mixture of experts; :func:`to_experts` and :func:`to_attention` convert exactly.
"""

from .core import AttentionConfig, BidirectionalAttention, WordExperts, free_copy, to_attention, to_experts

__version__ = "0.1.0"

__all__ = [
    "AttentionConfig",
    "BidirectionalAttention",
    "WordExperts",
    "__version__",
    "free_copy",
    "to_attention",
    "to_experts",
]
