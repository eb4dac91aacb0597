"""Voting stage: voters that add votes (out-of-fold embedding Bradley–Terry RMs with prompt-grouped
folds, the LM-likelihood voter), the ensembles that pool votes by family into p(chosen ≻ rejected),
agreement, strength and margin and decide keep / flip / drop / route (soft by default; hard flips
and drops only past thresholds calibrated on gold, ``calibrate.py``), and bias diagnostics (length,
truncation, markdown)."""
