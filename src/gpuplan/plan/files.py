"""Ready-to-run files for existing engines: a torchrun launcher, an accelerate config, a DeepSpeed
config and an FSDP2 snippet. gpuplan plans; it never runs training itself.

Every file states the batch identity: global batch = micro-batch x accumulation x data-parallel size.
DeepSpeed gets numbers only, never "auto" ("auto" is resolved by the HF Trainer / accelerate, not by
``deepspeed.initialize``). Key names follow the engines' own templates (research/ecosystem.md §2):
torchrun's ``--nnodes/--nproc-per-node`` flags, accelerate's ``ClusterConfig`` fields
(``num_processes`` is the total over machines), DeepSpeed's config keys, FSDP2's ``fully_shard`` API.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

from gpuplan.workload.spec import Precision, Workload

if TYPE_CHECKING:
    from gpuplan.plan.cluster import Cluster
    from gpuplan.plan.strategies import Buckets, Strategy, StrategyPlan
    from gpuplan.plan.units import ModelLayout

MASTER_PORT = 29500
TRAIN_SCRIPT = "train.py"


def batch_identity(p: StrategyPlan) -> str:
    return (f"micro-batch {p.micro_batch} x accumulation {p.grad_accum} x data-parallel {p.dp_size} "
            f"= global batch {p.global_batch}")


def _low(precision: Precision) -> str | None:
    if precision in (Precision.AMP_BF16, Precision.BF16):
        return "bf16"
    if precision in (Precision.AMP_FP16, Precision.FP16):
        return "fp16"
    return None


def torchrun_args(p: StrategyPlan, cl: Cluster, strategy: Strategy) -> list[str]:
    """torchrun's arguments (without the program name): standalone on one node, static rendezvous on several."""
    if cl.nodes == 1:
        args = ["--standalone", f"--nproc-per-node={cl.gpus_per_node}"]
    else:
        args = [f"--nnodes={cl.nodes}", f"--nproc-per-node={cl.gpus_per_node}", "--node-rank=${NODE_RANK}",
                "--master-addr=${MASTER_ADDR}", f"--master-port={MASTER_PORT}"]
    args += [TRAIN_SCRIPT, f"--micro-batch={p.micro_batch}", f"--grad-accum={p.grad_accum}"]
    if strategy.is_deepspeed:
        args.append("--deepspeed=ds_config.json")
    return args


def launch_torchrun(p: StrategyPlan, cl: Cluster, strategy: Strategy, model: str) -> str:
    lines = [
        "#!/usr/bin/env bash",
        f"# gpuplan plan: {model} with {strategy.value} ({strategy.engine}) on {cl.nodes} x {cl.gpus_per_node} "
        f"{cl.gpu.name}",
        f"# {batch_identity(p)}",
        f"# {TRAIN_SCRIPT} is your training script: it reads --micro-batch and --grad-accum"
        + (" and passes --deepspeed to deepspeed.initialize(config=...)" if strategy.is_deepspeed else "")
        + (" and shards the model as in fsdp2_snippet.py" if strategy.is_fsdp else "")
        + (" and wraps the model in DistributedDataParallel" if strategy.value == "ddp" else "") + ".",
    ]
    if cl.nodes > 1:
        lines.append("# Run on every node with NODE_RANK=0.." + str(cl.nodes - 1) + " and MASTER_ADDR = node 0's address.")
        lines.append(': "${NODE_RANK:?set NODE_RANK}" "${MASTER_ADDR:?set MASTER_ADDR}"')
    lines.append("set -euo pipefail")
    cmd = ["torchrun", *torchrun_args(p, cl, strategy)]
    lines.append(" ".join(a if a.startswith(("--node-rank=", "--master-addr=")) else shlex.quote(a) for a in cmd))
    return "\n".join(lines) + "\n"


def _yaml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML scalar


def _yaml(d: dict[str, object], indent: int = 0) -> list[str]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(" " * indent + f"{k}:")
            out.extend(_yaml(v, indent + 2))
        else:
            out.append(" " * indent + f"{k}: {_yaml_value(v)}")
    return out


def accelerate_config(p: StrategyPlan, cl: Cluster, strategy: Strategy, w: Workload, lay: ModelLayout) -> str:
    low = _low(w.precision)
    cfg: dict[str, object] = {"compute_environment": "LOCAL_MACHINE"}
    if strategy.value == "ddp":
        cfg["distributed_type"] = "MULTI_GPU" if cl.world_size > 1 else "NO"
        cfg["mixed_precision"] = low or "no"
    elif strategy.is_fsdp:
        cfg["distributed_type"] = "FSDP"
        cfg["mixed_precision"] = low or "no"
        fsdp: dict[str, object] = {
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP" if lay.block_class else "NO_WRAP",
        }
        if lay.block_class:
            fsdp["fsdp_transformer_layer_cls_to_wrap"] = lay.block_class
        fsdp.update({
            "fsdp_reshard_after_forward": strategy.value != "fsdp2-no-reshard",
            "fsdp_offload_params": strategy.offload,
            "fsdp_state_dict_type": "SHARDED_STATE_DICT",
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_activation_checkpointing": bool(w.checkpointing),
        })
        cfg["fsdp_config"] = fsdp
    else:
        cfg["distributed_type"] = "DEEPSPEED"
        # precision, batch and ZeRO settings live in the DeepSpeed file (accelerate ignores its own copies)
        cfg["deepspeed_config"] = {"deepspeed_config_file": "ds_config.json",
                                   "zero3_init_flag": strategy.zero_stage == 3}
    cfg.update({"num_machines": cl.nodes, "num_processes": cl.world_size, "machine_rank": 0})
    if cl.nodes > 1:
        cfg.update({"main_process_ip": "MAIN_NODE_IP", "main_process_port": MASTER_PORT, "rdzv_backend": "static",
                    "same_network": True})
    cfg.update({"gpu_ids": "all", "use_cpu": False})
    head = [f"# gpuplan plan: {w.model} with {strategy.value} ({strategy.engine})",
            f"# {batch_identity(p)}",
            f"# accelerate launch --config_file accelerate_config.yaml {TRAIN_SCRIPT}"
            + ("  (set machine_rank and main_process_ip on each node)" if cl.nodes > 1 else "")]
    if not strategy.is_deepspeed:
        head.append(f"# pass gradient_accumulation_steps={p.grad_accum} to Accelerator(...) and batch_size="
                    f"{p.micro_batch} to your DataLoader")
    return "\n".join(head + _yaml(cfg)) + "\n"


def ds_config(p: StrategyPlan, strategy: Strategy, w: Workload, b: Buckets) -> dict[str, object]:
    """The DeepSpeed config as a dict (numbers only)."""
    cfg: dict[str, object] = {
        "train_batch_size": p.global_batch,
        "train_micro_batch_size_per_gpu": p.micro_batch,
        "gradient_accumulation_steps": p.grad_accum,
        "gradient_clipping": 1.0,
        "steps_per_print": 100,
        "wall_clock_breakdown": False,
    }
    low = _low(w.precision)
    if low == "bf16":
        cfg["bf16"] = {"enabled": True}
    elif low == "fp16":
        # dynamic loss scaling (loss_scale 0), DeepSpeed's documented defaults written out
        cfg["fp16"] = {"enabled": True, "loss_scale": 0, "initial_scale_power": 16, "loss_scale_window": 1000,
                       "hysteresis": 2, "min_loss_scale": 1}
    zero: dict[str, object] = {
        "stage": strategy.zero_stage,
        "overlap_comm": strategy.zero_stage >= 2,
        "contiguous_gradients": strategy.zero_stage >= 2,
        "reduce_bucket_size": b.reduce_bucket,
        "allgather_bucket_size": b.reduce_bucket,
    }
    if strategy.zero_stage == 3:
        zero.update({
            "stage3_prefetch_bucket_size": b.prefetch_bucket,
            "stage3_param_persistence_threshold": b.persistence_threshold,
            "stage3_max_live_parameters": 1_000_000_000,
            "stage3_max_reuse_distance": 1_000_000_000,
            "stage3_gather_16bit_weights_on_model_save": True,
        })
    if strategy.offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if strategy.zero_stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    cfg["zero_optimization"] = zero
    return cfg


_DTYPE = {"bf16": "torch.bfloat16", "fp16": "torch.float16"}


def fsdp2_snippet(p: StrategyPlan, cl: Cluster, strategy: Strategy, w: Workload, lay: ModelLayout) -> str:
    low = _low(w.precision)
    mp = (f"MixedPrecisionPolicy(param_dtype={_DTYPE[low]}, reduce_dtype=torch.float32)"
          if low and w.precision.is_amp else "MixedPrecisionPolicy()")
    blocks = tuple((lay.block_class or "").split(",")) if lay.block_class else ()
    offload = "CPUOffloadPolicy(pin_memory=torch.cuda.is_available())" if strategy.offload else "OffloadPolicy()"
    reshard = "False" if strategy.value == "fsdp2-no-reshard" else "True"
    return f'''"""FSDP2 (torch.distributed.fsdp.fully_shard) for {w.model}: {strategy.value} on {cl.world_size} GPUs.

Planned by gpuplan: {batch_identity(p)}.
Launch with launch_torchrun.sh; call shard_model(model) before building the optimizer.
"""

import torch
from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy, fully_shard

MICRO_BATCH = {p.micro_batch}
GRAD_ACCUM = {p.grad_accum}
WORLD_SIZE = {cl.world_size}  # {cl.nodes} node(s) x {cl.gpus_per_node} GPUs
GLOBAL_BATCH = MICRO_BATCH * GRAD_ACCUM * WORLD_SIZE  # = {p.global_batch}
BLOCK_CLASSES = {blocks!r}  # one fully_shard unit per block{"" if blocks else " (none found: root only)"}


def shard_model(model: torch.nn.Module) -> torch.nn.Module:
    """Shard each block bottom-up, then the root (the root stays gathered from forward to backward)."""
    kwargs = dict(mp_policy={mp}, offload_policy={offload})
    for module in list(model.modules()):
        if type(module).__name__ in BLOCK_CLASSES:
            fully_shard(module, reshard_after_forward={reshard}, **kwargs)
    fully_shard(model, **kwargs)
    return model


def build_optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    """After sharding: the optimizer must see the sharded (DTensor) parameters."""
    return torch.optim.{_torch_optimizer(w)}(model.parameters(), lr=1e-4)
'''


def _torch_optimizer(w: Workload) -> str:
    return {"sgd": "SGD", "sgd-momentum": "SGD", "adam": "Adam", "adamw": "AdamW"}.get(w.optimizer.value, "AdamW")


def files_for(p: StrategyPlan, strategy: Strategy, w: Workload, cl: Cluster, lay: ModelLayout,
              b: Buckets) -> dict[str, str]:
    """The files of one strategy: name -> content."""
    out = {"launch_torchrun.sh": launch_torchrun(p, cl, strategy, w.model),
           "accelerate_config.yaml": accelerate_config(p, cl, strategy, w, lay)}
    if strategy.is_deepspeed:
        out["ds_config.json"] = json.dumps(ds_config(p, strategy, w, b), indent=2) + "\n"
    if strategy.is_fsdp:
        out["fsdp2_snippet.py"] = fsdp2_snippet(p, cl, strategy, w, lay)
    return out
