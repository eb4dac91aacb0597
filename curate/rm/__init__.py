"""Reward-model scoring: any Hugging Face sequence-classification RM votes on pairs (``rm_score``)."""
