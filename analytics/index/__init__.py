"""Composite indices (seed 000's I = sum a_n X_n / X_MAX and its relatives), pure pandas/numpy.

spec = load_spec("conf/indices/regional.yaml")
result = compute(spec, indicators)          # long table: unit, indicator, value[, period]
result.scores, group_comparison(result, zones), rank_uncertainty(result), audit(spec, published)
"""

from analytics.index.audit import AuditResult, audit, recover_weights
from analytics.index.engine import ComputeReport, IndexResult, compute
from analytics.index.groups import compare_groups, group_comparison, round_half_up
from analytics.index.inputs import IndexDataError
from analytics.index.spec import IndexSpec, load_spec, parse_spec
from analytics.index.uncertainty import rank_uncertainty

__all__ = [
    "AuditResult",
    "ComputeReport",
    "IndexDataError",
    "IndexResult",
    "IndexSpec",
    "audit",
    "compare_groups",
    "compute",
    "group_comparison",
    "load_spec",
    "parse_spec",
    "rank_uncertainty",
    "recover_weights",
    "round_half_up",
]
