"""The emitted files, loaded by the engines' own parsers/validators, and the batch identity in each.

torchrun: ``torch.distributed.run.get_args_parser``; accelerate: ``load_config_from_file`` and the
plugins the launcher builds from it; DeepSpeed: ``DeepSpeedConfig`` (its batch assertion runs with the
planned data-parallel size); FSDP2: the snippet runs on CPU in a one-process gloo group.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from gpuplan.plan.cluster import cluster_for
from gpuplan.plan.strategies import Plan, Strategy, plan
from gpuplan.workload.spec import Workload

IDENTITY = re.compile(r"micro-batch (\d+) x accumulation (\d+) x data-parallel (\d+) = global batch (\d+)")


@pytest.fixture(scope="module")
def two_node_plan(tiny_llama: Workload, trace_fn) -> Plan:  # type: ignore[no-untyped-def]
    """2 nodes x 4 A100 80GB, global batch 256: every strategy's files."""
    return plan(tiny_llama, cluster_for("4xA100 80GB SXM4", nodes=2), target_batch=256, trace_fn=trace_fn)


def _identity(text: str) -> tuple[int, int, int, int]:
    m = IDENTITY.search(text)
    assert m, text[:300]
    micro, ga, dp, total = (int(x) for x in m.groups())
    assert micro * ga * dp == total
    return micro, ga, dp, total


def test_every_strategy_has_its_files(two_node_plan: Plan) -> None:
    for s in two_node_plan.strategies:
        names = set(s.files)
        assert {"launch_torchrun.sh", "accelerate_config.yaml"} <= names
        assert ("ds_config.json" in names) == Strategy(s.strategy).is_deepspeed
        assert ("fsdp2_snippet.py" in names) == Strategy(s.strategy).is_fsdp
        for name, content in s.files.items():
            assert '"auto"' not in content and ": auto" not in content
            if name.endswith(".json"):  # JSON has no comments: the identity is DeepSpeed's three fields
                cfg = json.loads(content)
                got = (cfg["train_micro_batch_size_per_gpu"], cfg["gradient_accumulation_steps"], 8,
                       cfg["train_batch_size"])
                assert got[0] * got[1] * got[2] == got[3]
            else:
                got = _identity(content)
            assert got == (s.micro_batch, s.grad_accum, 8, 256)


def test_torchrun_command_parses_with_torchs_parser(two_node_plan: Plan) -> None:
    from torch.distributed.run import get_args_parser

    for s in two_node_plan.strategies:
        sh = s.files["launch_torchrun.sh"]
        line = next(x for x in sh.splitlines() if x.startswith("torchrun "))
        line = line.replace("${NODE_RANK}", "1").replace("${MASTER_ADDR}", "10.0.0.1")
        args = get_args_parser().parse_args(shlex.split(line)[1:])
        assert args.nnodes == "2" and int(args.nproc_per_node) == 4 and args.node_rank == 1
        assert args.master_addr == "10.0.0.1" and args.training_script == "train.py"
        script = dict(a.lstrip("-").split("=", 1) for a in args.training_script_args)
        assert int(script["micro-batch"]) * int(script["grad-accum"]) * 2 * 4 == 256
        assert ("deepspeed" in script) == Strategy(s.strategy).is_deepspeed


def _load_accelerate(tmp_path: Path, s: Any) -> Any:
    from accelerate.commands.config.config_args import load_config_from_file

    d = tmp_path / s.strategy
    d.mkdir()
    for name, content in s.files.items():
        (d / name).write_text(content)
    return d, load_config_from_file(str(d / "accelerate_config.yaml"))


def test_accelerate_config_loads_and_builds_plugins(two_node_plan: Plan, tmp_path: Path) -> None:
    pytest.importorskip("accelerate", reason="accelerate not installed (pip install '.[test]')")
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env

    for s in two_node_plan.strategies:
        d, cfg = _load_accelerate(tmp_path, s)
        assert cfg.num_processes == 8 and cfg.num_machines == 2  # the total over machines
        assert cfg.distributed_type.value == {"DeepSpeed": "DEEPSPEED", "PyTorch FSDP2": "FSDP",
                                              "torch DDP": "MULTI_GPU"}[s.engine]
        cwd = os.getcwd()
        os.chdir(d)
        try:
            if Strategy(s.strategy).is_deepspeed:
                plugin = DeepSpeedPlugin(hf_ds_config=cfg.deepspeed_config["deepspeed_config_file"])
                assert plugin.zero_stage == Strategy(s.strategy).zero_stage
                assert plugin.deepspeed_config["train_batch_size"] == 256
            else:
                args = launch_command_parser().parse_args(["--config_file", "accelerate_config.yaml", "train.py"])
                args, _, _ = _validate_launch_command(args)
                env = prepare_multi_gpu_env(args)
                assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
                if Strategy(s.strategy).is_fsdp:
                    fsdp_env = {k: v for k, v in env.items() if k.startswith(("FSDP", "ACCELERATE"))}
                    with mock.patch.dict(os.environ, fsdp_env):
                        plugin = FullyShardedDataParallelPlugin()
                    assert plugin.fsdp_version == 2
                    assert plugin.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]
                    assert plugin.reshard_after_forward == (s.strategy != "fsdp2-no-reshard")
                    assert (type(plugin.cpu_offload).__name__ == "CPUOffloadPolicy") == s.strategy.endswith("offload")
        finally:
            os.chdir(cwd)


class _DataParallel:
    """The minimal mpu DeepSpeedConfig asks for its data-parallel world size."""

    def __init__(self, n: int) -> None:
        self.n = n

    def get_data_parallel_world_size(self) -> int:
        return self.n


def test_deepspeed_config_validates_with_deepspeed(two_node_plan: Plan) -> None:
    dsc = pytest.importorskip("deepspeed.runtime.config", reason="deepspeed not installed (pip install '.[test]')")
    for s in two_node_plan.strategies:
        if "ds_config.json" not in s.files:
            continue
        cfg = json.loads(s.files["ds_config.json"])
        # without a process group DeepSpeed would take world size 1; give it the planned one
        with mock.patch.object(dsc.dist, "get_rank", return_value=0):
            ds = dsc.DeepSpeedConfig(cfg, mpu=_DataParallel(8))
            assert ds.train_batch_size == 256 and ds.world_size == 8
            assert ds.zero_optimization_stage == Strategy(s.strategy).zero_stage
            assert ds.bfloat16_config.enabled if hasattr(ds, "bfloat16_config") else ds.bfloat16_enabled
            if s.strategy.endswith("offload"):
                assert ds.zero_config.offload_optimizer.device == "cpu"
            # the batch identity is DeepSpeed's own assertion: a wrong total is rejected
            bad = dict(cfg, train_batch_size=cfg["train_batch_size"] + 8)
            with pytest.raises(AssertionError, match="train_batch_size"):
                dsc.DeepSpeedConfig(bad, mpu=_DataParallel(8))


def test_fsdp2_snippet_shards_a_real_llama_on_cpu(two_node_plan: Plan, tmp_path: Path) -> None:
    import torch
    import torch.distributed as dist
    from transformers import LlamaConfig, LlamaForCausalLM

    snippets = {s.strategy: s.files["fsdp2_snippet.py"] for s in two_node_plan.strategies if s.strategy.startswith("fsdp2")}
    assert set(snippets) == {"fsdp2", "fsdp2-no-reshard", "fsdp2-offload"}
    for code in snippets.values():
        compile(code, "fsdp2_snippet.py", "exec")
    if not dist.is_available():
        pytest.skip("torch.distributed is not available in this build")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        for name, code in snippets.items():
            ns: dict[str, Any] = {}
            exec(compile(code, f"{name}.py", "exec"), ns)
            assert ns["GLOBAL_BATCH"] == 256
            cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=2,
                              num_hidden_layers=2, vocab_size=128)
            model = LlamaForCausalLM(cfg)
            ns["shard_model"](model)
            assert type(model.model.layers[0]).__name__.startswith("FSDP")  # each block is a unit
            opt = ns["build_optimizer"](model)
            ids = torch.randint(0, 128, (2, 8))
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            assert torch.isfinite(loss)
    finally:
        dist.destroy_process_group()
