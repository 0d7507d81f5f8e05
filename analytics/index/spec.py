"""An index declared as YAML under conf/indices/: a tree of weighted nodes whose leaves are indicators.

The tree is written flat (a list of indicators, a list of nodes whose children name ids) so that
every mistake a hand-edited file can hold -- a duplicate id, a dangling or unknown reference, a
cycle, a node with two parents, weights that do not add up -- is caught when the file is loaded,
with the file and the node named, and not half-way through a computation.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from etl.model import Frozen, parse_model, read_yaml

Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Direction = Literal["higher_is_better", "lower_is_better"]
Normalisation = Literal["ratio_to_max", "min_max", "base_period", "z_score", "rank"]
# `spec` in an uncertainty set means "each indicator's own declared normalisation".
Alternative = Literal["spec", "ratio_to_max", "min_max", "z_score", "rank"]
MissingPolicy = Literal["exclude", "zero", "mean", "error"]
Source = Literal["lakehouse", "external", "unavailable"]
Aggregation = Literal["weighted_arithmetic", "weighted_geometric"]


def _fraction(value: Any) -> Any:
    """Weights may be written as "1/3" so that equal thirds add up to exactly 1."""
    if isinstance(value, str) and "/" in value:
        try:
            return float(Fraction(value.replace(" ", "")))
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"weight {value!r} is not a number or a fraction a/b") from exc
    return value


Weight = Annotated[float, BeforeValidator(_fraction), Field(gt=0, le=1)]


class Indicator(Frozen):
    """A leaf. `missing`: what a unit without a value (no row, or NaN) gets --

    exclude: nothing; its parent's weights are renormalised over the children present (the only
             policy under which the indicator may be absent from the table altogether);
    zero:    raw value 0 before normalisation (a count with no record is a count of none);
    mean:    the raw mean of the units present in the same period, before normalisation;
    error:   a missing value is an error.
    """

    id: Id
    name_zh: str
    name_en: str
    direction: Direction
    normalisation: Normalisation
    base_period: str | None = None
    missing: MissingPolicy
    source: Source
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _period_as_text(cls, data: Any) -> Any:
        # YAML reads `base_period: 2020` as an int (2020-01-01 as a date); periods are compared as text.
        if isinstance(data, dict) and data.get("base_period") is not None and not isinstance(data["base_period"], str):
            data = {**data, "base_period": str(data["base_period"])}
        return data

    @model_validator(mode="after")
    def _base_period(self) -> Indicator:
        if self.normalisation == "base_period" and not self.base_period:
            raise ValueError("normalisation base_period needs a base_period")
        if self.normalisation != "base_period" and self.base_period is not None:
            raise ValueError("base_period is only for normalisation base_period")
        return self


class Child(Frozen):
    ref: Id
    weight: Weight
    # The weight as the source prints it, as a share of the whole index; checked against the
    # product of local weights on the path, so a transcription slip is caught on load.
    stated_weight: Weight | None = None


class Node(Frozen):
    id: Id
    name_zh: str
    name_en: str
    aggregation: Aggregation
    children: tuple[Child, ...] = Field(min_length=1)
    note: str | None = None


class Ranking(Frozen):
    """competition: equal scores share the best rank ("1224"); ordinal: ties broken by unit order."""

    ties: Literal["competition", "ordinal"]
    # Ties are decided on scores rounded to this many decimals, as a published table shows them.
    decimals: int | None = Field(default=None, ge=0)


class ThresholdTiers(Frozen):
    """A unit is in the first tier whose threshold its total reaches (score >= threshold)."""

    method: Literal["thresholds"]
    thresholds: tuple[float, ...] = Field(min_length=1)
    labels: tuple[str, ...]

    @model_validator(mode="after")
    def _shape(self) -> ThresholdTiers:
        if any(a <= b for a, b in zip(self.thresholds, self.thresholds[1:])):
            raise ValueError(f"tier thresholds {list(self.thresholds)} must be strictly descending")
        if len(self.labels) != len(self.thresholds) + 1:
            raise ValueError(
                f"{len(self.thresholds)} thresholds need {len(self.thresholds) + 1} labels, got {len(self.labels)}"
            )
        return self


class NaturalBreakTiers(Frozen):
    """Fisher-Jenks natural breaks of the totals into k classes; the first label is the top class."""

    method: Literal["natural_breaks"]
    k: int = Field(ge=2)
    labels: tuple[str, ...]

    @model_validator(mode="after")
    def _shape(self) -> NaturalBreakTiers:
        if len(self.labels) != self.k:
            raise ValueError(f"k={self.k} natural-break tiers need {self.k} labels, got {len(self.labels)}")
        return self


Tiers = Annotated[ThresholdTiers | NaturalBreakTiers, Field(discriminator="method")]


class WeightPerturbation(Frozen):
    """dirichlet: each node's child weights ~ Dirichlet(concentration * w), mean w (larger = tighter);
    uniform: each weight times U(1 - spread, 1 + spread), then renormalised to sum to 1."""

    method: Literal["dirichlet", "uniform"]
    concentration: float | None = Field(default=None, gt=0)
    spread: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _parameter(self) -> WeightPerturbation:
        need = {"dirichlet": "concentration", "uniform": "spread"}[self.method]
        other = {"dirichlet": "spread", "uniform": "concentration"}[self.method]
        if getattr(self, need) is None:
            raise ValueError(f"weights.method {self.method} needs {need}")
        if getattr(self, other) is not None:
            raise ValueError(f"weights.method {self.method} takes no {other}")
        return self


class Uncertainty(Frozen):
    weights: WeightPerturbation
    normalisations: tuple[Alternative, ...] = Field(min_length=1)
    draws: int = Field(ge=1)
    seed: int
    percentiles: tuple[float, float]

    @model_validator(mode="after")
    def _percentiles(self) -> Uncertainty:
        lo, hi = self.percentiles
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"percentiles {list(self.percentiles)} must satisfy 0 <= low < high <= 100")
        if len(set(self.normalisations)) != len(self.normalisations):
            raise ValueError(f"normalisations {list(self.normalisations)} name one twice")
        return self


class AuditSettings(Frozen):
    # A recovered weight further than this from the stated one is reported as a disagreement.
    weight_tolerance: float = Field(gt=0, lt=1)


class IndexSpec(Frozen):
    id: Id
    name_zh: str
    name_en: str
    source: str
    unit: str
    scale: float = Field(gt=0)
    # |sum of sibling weights - 1| must not exceed this; also bounds stated_weight checks.
    weight_tolerance: float = Field(gt=0, lt=0.01)
    root: Id
    ranking: Ranking
    tiers: Tiers | None = None
    uncertainty: Uncertainty | None = None
    audit: AuditSettings
    indicators: tuple[Indicator, ...] = Field(min_length=1)
    nodes: tuple[Node, ...] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _tree(self) -> IndexSpec:
        _check_tree(self)
        return self

    # --- navigation -------------------------------------------------------------------------

    @property
    def indicator_by_id(self) -> dict[str, Indicator]:
        return {i.id: i for i in self.indicators}

    @property
    def node_by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    def indicator_ids(self) -> list[str]:
        """Leaves in tree order (depth first, children in declared order)."""
        return [ref for ref in self.walk() if ref in self.indicator_by_id]

    def node_ids(self) -> list[str]:
        """Nodes in tree order, root first."""
        return [ref for ref in self.walk() if ref in self.node_by_id]

    def walk(self, start: str | None = None) -> list[str]:
        nodes, out, stack = self.node_by_id, [], [start or self.root]
        while stack:
            ref = stack.pop()
            out.append(ref)
            if ref in nodes:
                stack.extend(c.ref for c in reversed(nodes[ref].children))
        return out

    def bottom_up(self) -> list[str]:
        """Node ids with every node after all of its descendant nodes."""
        return list(reversed(self.node_ids()))

    def first_level(self) -> list[str]:
        return [c.ref for c in self.node_by_id[self.root].children]

    def weights(self, node: str) -> dict[str, float]:
        return {c.ref: c.weight for c in self.node_by_id[node].children}

    def global_weights(self) -> dict[str, float]:
        """Each indicator's share of the whole index: the product of local weights on its path."""
        out: dict[str, float] = {}

        def descend(ref: str, share: float) -> None:
            if ref in self.indicator_by_id:
                out[ref] = share
                return
            for c in self.node_by_id[ref].children:
                descend(c.ref, share * c.weight)

        descend(self.root, 1.0)
        return out

    def label_zh(self, ref: str) -> str:
        item = self.indicator_by_id.get(ref) or self.node_by_id[ref]
        return item.name_zh


def _check_tree(spec: IndexSpec) -> None:
    seen: dict[str, str] = {}
    for kind, items in (("indicators", spec.indicators), ("nodes", spec.nodes)):
        for pos, item in enumerate(items):
            where = f"{kind}[{pos}]"
            if item.id in seen:
                raise ValueError(f"duplicate id {item.id!r} ({seen[item.id]} and {where})")
            seen[item.id] = where
    indicators, nodes = {i.id for i in spec.indicators}, {n.id: n for n in spec.nodes}
    if spec.root not in nodes:
        raise ValueError(f"root {spec.root!r} is not a node (nodes: {', '.join(nodes)})")
    parent: dict[str, str] = {}
    for node in spec.nodes:
        refs = [c.ref for c in node.children]
        twice = sorted({r for r in refs if refs.count(r) > 1})
        if twice:
            raise ValueError(f"node {node.id!r}: child {twice[0]!r} is listed twice")
        for ref in refs:
            if ref not in indicators and ref not in nodes:
                raise ValueError(f"node {node.id!r}: unknown indicator or node {ref!r}")
        total = math.fsum(c.weight for c in node.children)
        if abs(total - 1) > spec.weight_tolerance:
            raise ValueError(
                f"node {node.id!r}: child weights sum to {total:.6g}, not 1 (tolerance {spec.weight_tolerance:g})"
            )
    for node in spec.nodes:
        cycle = _cycle_from(node.id, nodes)
        if cycle:
            raise ValueError(f"node {cycle[0]!r}: cycle {' -> '.join(cycle)}")
    for node in spec.nodes:
        for c in node.children:
            if c.ref in parent:
                raise ValueError(f"{c.ref!r} has two parents ({parent[c.ref]!r} and {node.id!r}); an index is a tree")
            parent[c.ref] = node.id
    if spec.root in parent:
        raise ValueError(f"root {spec.root!r} is a child of node {parent[spec.root]!r}")
    reachable = set(spec.walk())
    unused = [i.id for i in spec.indicators if i.id not in reachable] + [
        n.id for n in spec.nodes if n.id not in reachable
    ]
    if unused:
        raise ValueError(f"declared but not reachable from root {spec.root!r}: {', '.join(unused)}")
    geometric = [n for n in spec.nodes if n.aggregation == "weighted_geometric"]
    alternatives = set(spec.uncertainty.normalisations) if spec.uncertainty else set()
    for node in geometric:
        below = [r for r in spec.walk(node.id) if r in indicators]
        z = [r for r in below if spec.indicator_by_id[r].normalisation == "z_score"]
        if z or (below and "z_score" in alternatives):
            what = f"z_score indicator {z[0]!r}" if z else "the z_score uncertainty alternative"
            raise ValueError(
                f"node {node.id!r}: weighted_geometric needs non-negative children, but {what} can be negative"
            )
    shares = spec.global_weights()
    for node in spec.nodes:
        for c in node.children:
            if c.stated_weight is not None:
                share = _share(spec, c.ref, shares)
                if abs(share - c.stated_weight) > spec.weight_tolerance:
                    raise ValueError(
                        f"node {node.id!r}: child {c.ref!r} has a share of {share:.6g} of the index, "
                        f"but its stated_weight is {c.stated_weight:g}"
                    )


def _share(spec: IndexSpec, ref: str, shares: dict[str, float]) -> float:
    return math.fsum(shares[i] for i in spec.walk(ref) if i in shares)


def _cycle_from(start: str, nodes: dict[str, Node]) -> list[str] | None:
    path: list[str] = []
    on_path: set[str] = set()

    def visit(ref: str) -> list[str] | None:
        if ref in on_path:
            return path[path.index(ref) :] + [ref]
        if ref not in nodes:
            return None
        path.append(ref)
        on_path.add(ref)
        for c in nodes[ref].children:
            found = visit(c.ref)
            if found:
                return found
        path.pop()
        on_path.discard(ref)
        return None

    return visit(start)


def parse_spec(data: dict, source: str = "<spec>") -> IndexSpec:
    """Validate a spec already read into a dict; `source` names it in errors."""
    return parse_model(IndexSpec, data, source)


def load_spec(path: str | Path) -> IndexSpec:
    path = Path(path)
    return parse_spec(read_yaml(path), str(path))
