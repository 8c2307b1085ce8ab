"""Linear word analogies (paper.md §3): evaluation of word-embedding matrices on the Google analogy set."""
