"""Voting stage: voters that add votes (embedding Bradley-Terry RMs), the ensemble that aggregates
votes into p(chosen ≻ rejected), agreement and strength and decides keep / flip / drop / route, and
bias diagnostics (length, truncation, markdown)."""
