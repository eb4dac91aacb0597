"""Steps that send routed pairs to people and bring their answers back as human votes.

``route_to_humans`` pushes the rows the ensemble marked ``decision == "route"`` to an annotation
store (idempotent by pair id) and passes every row on. With a ``budget`` (pairs and/or a share of
the rows) it is a full-pass step that pushes at most that many: a random audit slice of all rows
plus the most uncertain routed rows, spread across prompts (``curate.annotate.budget``).
``human_votes`` reads the store's answers and appends **one vote per annotator answer**
(``voter = "human:<name>"``, ``kind = "human"``): chosen won → p_chosen 1.0, rejected won → 0.0,
tie → 0.5, skip → no vote. The A/B order each annotator saw is mapped back through the order
recorded with the answer. Human votes from an earlier pull are replaced, not added again, so
pulling twice gives the same rows. Re-run the ensemble step after ``human_votes`` to re-aggregate.
"""

from __future__ import annotations

from collections import defaultdict

import polars as pl
from pydantic import Field

from curate.annotate.budget import AuditTally, BudgetPlan
from curate.annotate.store import AnnotationStore, Answer, StoreConfig
from curate.context import RunContext
from curate.registry import STEPS
from curate.schema import VOTE, VoteKind, append_provenance, dumps
from curate.step import Batches, Options, Step

P_CHOSEN = {"chosen": 1.0, "rejected": 0.0, "tie": 0.5}
HUMAN_PREFIX = "human:"


class RouteOptions(Options):
    task: str = Field(description="annotation task name (created if absent)")
    store: StoreConfig = Field(default_factory=StoreConfig, description="which annotation store to use")
    overlap: int = Field(1, ge=1, description="annotators per pair (used when the task is created)")
    guidelines: str = Field("", description="annotation guidelines (used when the task is created)")
    criteria: list[str] = Field(default_factory=list, description="rubric criteria annotators can tick")
    decision_column: str = Field("decision", description="column holding keep/flip/drop/route")
    budget: int | None = Field(None, ge=0, description="push at most this many pairs per run (full pass); "
                               "none: every routed pair")
    budget_share: float | None = Field(None, ge=0.0, le=1.0, description="push at most this share of the "
                                       "rows (with budget: the smaller of the two)")
    random_share: float = Field(0.1, ge=0.0, le=1.0, description="with a budget: share of it drawn "
                                "uniformly from all rows (route_reason random_audit), for unbiased "
                                "estimates of label noise and of the ensemble's precision")


@STEPS.register()
class RouteToHumans(Step):
    """Push pairs to an annotation store; every row passes through.

    Without a budget: every ``decision == route`` pair. With ``budget`` / ``budget_share`` (a full
    pass, see ``curate.annotate.budget``): a ``random_share`` audit slice of all rows plus the most
    uncertain routed pairs, spread across prompts, up to the budget.

    Reads: id, prompt, chosen, rejected, votes, decision (and p_chosen, strength_std, cluster_id for
    a budget). Writes: ``human_status`` ("routed" for pushed rows, "over_budget" for routed rows left
    out, unchanged otherwise) and ``route_reason`` ("route", or with a budget "uncertain" /
    "random_audit"; null for rows not pushed); pushed rows get a provenance event. Counts ``routed``,
    ``pushed_new``, ``already_in_store``, ``route_reason.<reason>``, ``over_budget``.
    """

    name = "route_to_humans"
    inputs = ("id", "prompt", "chosen", "rejected", "votes", "decision")
    outputs = ("human_status", "route_reason")
    Options = RouteOptions

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.plan: BudgetPlan | None = None
        self.seed = 0
        if self.options.budget is not None or self.options.budget_share is not None:
            self.needs_full_pass = True  # the budget is global: rank every row before pushing any

    def setup(self, ctx: RunContext) -> None:
        o = self.options
        self.seed = getattr(ctx, "seed", 0) if ctx is not None else 0
        self.store: AnnotationStore = o.store.open()
        self.store.create_task(o.task, guidelines=o.guidelines, overlap=o.overlap, criteria=o.criteria)

    def fit(self, batches: Batches) -> None:
        o = self.options
        self.plan = BudgetPlan.fit(batches, o.decision_column, o.budget, o.budget_share, o.random_share, self.seed)
        self.stats.figures["budget"] = {"pairs": self.plan.size, "random_share": o.random_share}

    def _reasons(self, batch: pl.DataFrame) -> list[str | None]:
        if self.needs_full_pass:
            if self.plan is None:  # used outside a runner: the batch is the whole run
                self.fit(lambda: iter([batch]))
            return [self.plan.chosen.get(i) for i in batch["id"].to_list()]
        return ["route" if d == "route" else None for d in batch[self.options.decision_column].to_list()]

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "store"):
            self.setup(None)  # type: ignore[arg-type]  # used outside a runner
        reasons = pl.Series("route_reason", self._reasons(batch), dtype=pl.Utf8)
        mask = reasons.is_not_null()
        routed = batch.filter(mask)
        if routed.height:
            new = self.store.push_pairs(self.options.task, routed.select(
                "id", "prompt", "chosen", "rejected", "votes").iter_rows(named=True))
            self.stats.count("routed", routed.height)
            self.stats.count("pushed_new", new)
            self.stats.count("already_in_store", routed.height - new)
            for r, n in reasons.drop_nulls().value_counts().iter_rows():
                self.stats.count(f"route_reason.{r}", n)
        over = (batch.get_column(self.options.decision_column) == "route") & ~mask
        self.stats.count("over_budget", int(over.sum()))
        old = pl.col("human_status") if "human_status" in batch.columns else pl.lit(None, dtype=pl.Utf8)
        status = pl.when(pl.lit(mask)).then(pl.lit("routed")).when(pl.lit(over)).then(pl.lit("over_budget"))
        old_reason = pl.col("route_reason") if "route_reason" in batch.columns else pl.lit(None, dtype=pl.Utf8)
        batch = batch.with_columns(status.otherwise(old).alias("human_status"),
                                   pl.when(pl.lit(mask)).then(pl.lit(reasons)).otherwise(old_reason)
                                   .alias("route_reason"))
        for r in reasons.drop_nulls().unique().to_list():
            batch = append_provenance(batch, {"step": self.label, "event": "route", "route_reason": r},
                                      reasons == r)
        return batch

    def summary(self) -> dict:
        c = self.stats.counts
        return {"route_rate": c["routed"] / self.stats.records_in} if self.stats.records_in else {}

    def close(self) -> None:
        if hasattr(self, "store"):
            self.store.close()


class PullOptions(Options):
    task: str = Field(description="annotation task name")
    store: StoreConfig = Field(default_factory=StoreConfig, description="which annotation store to use")


def human_vote(a: Answer, flipped: bool = False) -> dict:
    raw = {"answer_id": a.answer_id, "task": a.task, "choice": a.choice, "a_is": a.a_is, "label": a.label,
           "rationale": a.rationale, "criteria": a.criteria}
    p = P_CHOSEN[a.label]
    return {"voter": HUMAN_PREFIX + a.annotator, "kind": VoteKind.HUMAN, "p_chosen": 1.0 - p if flipped else p,
            "margin": None, "raw": dumps(raw), "family": HUMAN_PREFIX + a.annotator}


@STEPS.register()
class HumanVotes(Step):
    """Append the store's submitted answers as human votes and mark pairs still waiting for people.

    Reads: id, chosen (to orient votes if the ensemble flipped the pair after the push), votes.
    Writes: votes (one ``kind="human"`` vote per non-skip answer, replacing those of an earlier pull),
    ``human_status`` ("done" when the pair has ``overlap`` non-skip answers, "waiting" when it is in
    the store with fewer, unchanged for pairs never routed) and
    ``human_answers`` (non-skip answers). Counts ``human_votes``, ``skips``, ``pairs_done``,
    ``pairs_waiting``. Figures ``audit``: from the answered ``route_reason == random_audit`` rows, the
    share of output labels people confirm and of original labels they reject, with 95% bounds
    (``curate.annotate.budget.AuditTally``).
    """

    name = "human_votes"
    inputs = ("id", "chosen", "votes")
    outputs = ("votes", "human_status", "human_answers")
    Options = PullOptions

    def setup(self, ctx: RunContext | None) -> None:
        self.audit = AuditTally()
        store = self.options.store.open()
        try:
            task = self.options.task
            self.overlap = int(store.progress(task)["overlap"])
            self.in_store = store.pushed(task)
            self.by_pair: dict[str, list[Answer]] = defaultdict(list)
            for a in store.answers(task):
                self.by_pair[a.pair_id].append(a)
        finally:
            store.close()

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "by_pair"):
            self.setup(None)
        new_votes, status, counts = [], [], []
        for pid, chosen in batch.select("id", "chosen").iter_rows():
            answers = self.by_pair.get(pid, [])
            # the ensemble may have flipped the pair since it was pushed: orient votes to the row as it is
            flipped = pid in self.in_store and chosen != self.in_store[pid]
            votes = [human_vote(a, flipped) for a in answers if a.label != "skip"]
            self.stats.count("skips", len(answers) - len(votes))
            self.stats.count("human_votes", len(votes))
            new_votes.append(votes)
            counts.append(len(votes))
            if pid not in self.in_store:
                status.append(None)
            else:
                status.append("done" if len(votes) >= self.overlap else "waiting")
                self.stats.count("pairs_" + status[-1])
        old_status = pl.col("human_status") if "human_status" in batch.columns else pl.lit(None, dtype=pl.Utf8)
        # drop human votes of an earlier pull so that pulling again is idempotent
        kept = pl.col("votes").list.eval(
            pl.element().filter(~pl.element().struct.field("voter").str.starts_with(HUMAN_PREFIX)))
        out = batch.with_columns(
            pl.concat_list([kept, pl.Series(new_votes, dtype=pl.List(VOTE))]).alias("votes"),
            pl.coalesce(pl.Series(status, dtype=pl.Utf8), old_status).alias("human_status"),
            pl.Series(counts, dtype=pl.Int64).alias("human_answers"),
        )
        self.audit.add(out)
        if self.audit.audited:
            self.stats.figures["audit"] = self.audit.figures()
        return out

    def summary(self) -> dict:
        c = self.stats.counts
        routed = c["pairs_done"] + c["pairs_waiting"]
        return {"waiting_rate": c["pairs_waiting"] / routed} if routed else {}
