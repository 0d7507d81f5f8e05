"""The per-feed pipeline of a batch: conform, route, split and validate, each intermediate staged once.

`iiap ingest` runs it on the bronze rows it reads from the landing files, as gates
before anything downstream is written; `iiap quality` runs it on a batch already in
bronze, against silver without that batch, to validate it again on its own. Both share
this one definition, so a batch is judged the same way by both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl import outcomes
from etl.config import Settings
from etl.silver import ConformContext, conform, overlay, to_silver
from quality.context import RuleContext
from quality.forms import with_key_counts
from quality.routing import route
from quality.runner import Validator
from quality.spec import QualitySpec
from quality.suites import check_activity_shares, check_bronze, check_silver

Stage = Callable[[DataFrame, str], DataFrame]  # (frame, name) -> the frame written once as scratch and read back


@dataclass(frozen=True)
class FeedPipeline:
    """What every feed of one batch is judged with."""

    settings: Settings
    quality: QualitySpec
    validator: Validator  # the batch's: it collects every suite's outcomes for the gates
    conform_ctx: ConformContext
    pseudonym_key: bytes
    stage: Stage

    @classmethod
    def for_batch(cls, settings: Settings, validator: Validator, pseudonym_key: bytes, stage: Stage) -> FeedPipeline:
        return cls(settings, validator.spec, validator, ConformContext.from_settings(settings), pseudonym_key, stage)

    @property
    def rule_ctx(self) -> RuleContext:
        return self.validator.ctx


@dataclass(frozen=True)
class ValidatedFeed:
    """A feed's batch, conformed, routed, split into outcomes and validated, waiting for the gates."""

    feed: str
    bronze: DataFrame  # staged
    flagged: DataFrame  # staged: every conformed row with reason_code, outcome and duplicate_of
    roster: DataFrame | None  # silver.roster as it will be once this batch's roster rows are in

    def accepted(self) -> DataFrame:
        """The silver rows this batch adds or replaces."""
        return to_silver(self.flagged.filter(F.col("outcome").isin(outcomes.NEW, outcomes.UPDATE)), self.feed)

    def quarantined(self) -> DataFrame:
        return self.flagged.filter(F.col("outcome") == outcomes.QUARANTINE)


def validate_feed(
    p: FeedPipeline, feed: str, bronze: DataFrame, existing: DataFrame | None, roster: DataFrame | None
) -> ValidatedFeed:
    """Bronze rows (staged) -> the validated feed; `existing` is silver as the batch finds it, `roster` the roster so
    far."""
    suite = f"silver.{feed}"
    check_bronze(p.validator, feed, bronze)
    routed = route(
        conform(feed, bronze, roster, p.conform_ctx, p.pseudonym_key), p.quality.row_rules(suite), p.rule_ctx
    )
    split = outcomes.assign(routed, existing, p.settings.feeds.feeds[feed].on_existing)
    # the unique rules' key counts ride on deduplication's shuffle by record_key
    flagged = p.stage(with_key_counts(split, p.quality.table_rules(suite)), f"{feed}/flagged")
    check_silver(p.validator, feed, flagged)
    validated = ValidatedFeed(feed, bronze, flagged, roster)
    if feed == "roster":
        roster = p.stage(overlay(roster, validated.accepted(), ["platform_id", "tenant_id"]), "roster/overlay")
        validated = ValidatedFeed(feed, bronze, flagged, roster)
    if feed == "logins":
        check_activity_shares(p.validator, validated.accepted())
    return validated
