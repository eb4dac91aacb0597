"""A deliberately slow step for kill-and-resume tests (imported by `step: python`)."""

import time


def slow(batch):
    time.sleep(0.15)
    return batch.with_columns(batch["chosen"].str.len_chars().alias("chosen_chars"))
