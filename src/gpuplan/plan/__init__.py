"""Multi-GPU training plans for existing engines (torch DDP, DeepSpeed ZeRO, PyTorch FSDP2).

    >>> from gpuplan.plan import cluster_for, plan
    >>> p = plan(workload, cluster_for("8xA100-80G"))             # doctest: +SKIP
    >>> [(s.strategy, s.per_gpu_memory_bytes, s.step_seconds) for s in p.strategies]   # doctest: +SKIP
"""

from gpuplan.plan.cluster import Cluster, Link, cluster_for, parse_gpus
from gpuplan.plan.comm import Collective, CommItem, bytes_sent_per_rank
from gpuplan.plan.strategies import (
    Plan,
    Strategy,
    StrategyPlan,
    evaluate,
    parse_strategies,
    plan,
    plan_strategy,
)

__all__ = ["Cluster", "Collective", "CommItem", "Link", "Plan", "Strategy", "StrategyPlan", "bytes_sent_per_rank",
           "cluster_for", "evaluate", "parse_gpus", "parse_strategies", "plan", "plan_strategy"]
