"""The model: bidirectional attention and its mixture-of-word-experts form (paper.md §1)."""

from .attention import AttentionConfig, BidirectionalAttention
from .experts import WordExperts, free_copy, to_attention, to_experts

__all__ = ["AttentionConfig", "BidirectionalAttention", "WordExperts", "free_copy", "to_attention", "to_experts"]
