"""The PyTorch code advise prints: it compiles for every kind of plan, and one runs for real on the CPU."""

from __future__ import annotations

import ast

import pytest
import torch

from gpuplan.advise.snippet import snippet
from gpuplan.workload.spec import Mode, OptimizerKind, Precision, Workload

PLANS = {
    "resnet-amp-ckpt-accum-sgd": Workload("resnet50", batch=16, grad_accum=4, precision=Precision.AMP_FP16,
                                          checkpointing=True, optimizer=OptimizerKind.SGD_MOMENTUM),
    "bert-lora-adam8bit": Workload("bert-base-uncased", batch=4, grad_accum=8, lora_rank=8, checkpointing=True,
                                   optimizer=OptimizerKind.ADAM8BIT),
    "llama-qlora": Workload("meta-llama/Llama-2-7b-hf", batch=1, grad_accum=16, lora_rank=16,
                            precision=Precision.NF4),
    "bert-freeze-adafactor": Workload("bert-base-uncased", batch=4, grad_accum=8, optimizer=OptimizerKind.ADAFACTOR,
                                      freeze=("bert.embeddings.", "bert.encoder.layer.0.")),
    "gpt2-int8-infer": Workload("gpt2", batch=8, mode=Mode.INFER, precision=Precision.INT8),
    "resnet-fp16-infer": Workload("resnet50", batch=64, mode=Mode.INFER, precision=Precision.FP16),
    "mlp-bf16-lora-user-globs": Workload("mlp", batch=32, precision=Precision.AMP_BF16, lora_rank=4,
                                         freeze=("net.0",)),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_snippet_compiles(name: str) -> None:
    code = snippet(PLANS[name], finetune=True)
    compile(code, name, "exec")
    ast.parse(code)
    assert code.startswith("# ") and "device = \"cuda\"" in code


def test_snippet_settings_match_the_plan() -> None:
    amp = snippet(PLANS["resnet-amp-ckpt-accum-sgd"])
    assert "torch.autocast(device_type=device, dtype=torch.float16)" in amp
    assert "scaler = torch.amp.GradScaler(device)" in amp and "scaler.step(optimizer)" in amp
    assert "use_reentrant=False" in amp and "ACCUM = 4" in amp and "/ ACCUM" in amp
    assert "momentum=0.9" in amp and "batch_size=16" in amp
    bf16 = snippet(PLANS["mlp-bf16-lora-user-globs"])
    assert "dtype=torch.bfloat16" in bf16 and "GradScaler" not in bf16  # bf16 needs no loss scaling
    lora = snippet(PLANS["bert-lora-adam8bit"], finetune=True)
    assert "gradient_checkpointing_enable" in lora and 'target_modules="all-linear"' in lora
    assert "bnb.optim.AdamW8bit" in lora and "from_pretrained" in lora
    assert "pip install bitsandbytes peft transformers" in lora
    qlora = snippet(PLANS["llama-qlora"], finetune=True)
    assert 'bnb_4bit_quant_type="nf4"' in qlora and "prepare_model_for_kbit_training" in qlora
    assert "model = model.to(device)" not in qlora  # quantized models are placed by device_map
    scratch = snippet(PLANS["bert-freeze-adafactor"], finetune=False)
    assert "from_config" in scratch and "name.startswith(FROZEN)" in scratch and "Adafactor(" in scratch
    infer = snippet(PLANS["gpt2-int8-infer"])
    assert "load_in_8bit=True" in infer and "torch.inference_mode()" in infer and "backward" not in infer
    no_accum = snippet(Workload("lenet5", batch=64))
    assert "ACCUM" not in no_accum and "optimizer.step()" in no_accum


def test_cpu_offload_plan_runs_through_deepspeed() -> None:
    config = '{"train_micro_batch_size_per_gpu": 16, "gradient_accumulation_steps": 4, "zero_optimization": ' \
             '{"stage": 2, "offload_optimizer": {"device": "cpu"}}}'
    code = snippet(Workload("cifar_cnn", batch=16, grad_accum=4), deepspeed_config=config)
    compile(code, "offload", "exec")
    assert "deepspeed.initialize(" in code and "DeepSpeedCPUAdam(" in code and "engine.backward(loss)" in code
    assert '"offload_optimizer"' in code and "ACCUM" not in code  # DeepSpeed accumulates itself
    assert "deepspeed --num_gpus 1" in code


MODEL = """
model = torch.nn.Sequential(
    torch.nn.Sequential(  # the blocks: a container of sub-modules, as checkpointing wraps them
        torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU()),
        torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU()),
    ),
    torch.nn.Linear(16, 3),
)
initial = [p.detach().clone() for p in model.parameters()]
"""
DATA = """
g = torch.Generator().manual_seed(0)
loader = [(torch.randn(4, 8, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(6)]
"""


@pytest.mark.parametrize("precision", [Precision.AMP_BF16, Precision.AMP_FP16, Precision.FP32])
def test_snippet_runs_on_cpu(precision: Precision) -> None:
    """The emitted training loop is valid code: run it on a tiny model with device = "cpu"."""
    w = Workload("cifar_cnn", batch=4, grad_accum=3, precision=precision, checkpointing=True,
                 optimizer=OptimizerKind.SGD_MOMENTUM, loss="cross-entropy")
    code = snippet(w, device="cpu", model_code=MODEL, data_code=DATA)
    assert 'device = "cpu"' in code
    scope: dict[str, object] = {}
    exec(compile(code, "<snippet>", "exec"), scope)
    model = scope["model"]
    assert isinstance(model, torch.nn.Module)
    # the checkpoint wrapper went in, and the 6 micro-batches made 2 optimizer steps that moved the weights
    assert any(type(m).__name__ == "Checkpointed" for m in model.modules())
    initial = scope["initial"]
    assert isinstance(initial, list)
    moved = [not torch.equal(a, b.detach()) for a, b in zip(initial, model.parameters(), strict=True)]
    assert all(moved)
    assert scope["step"] == 5


def test_snippet_zero_grad_follows_the_plan() -> None:
    kept = snippet(Workload("cifar_cnn", batch=8, extra=(("set_to_none", False),)))
    assert "zero_grad(set_to_none=False)" in kept and "set_to_none=True" not in kept
    freed = snippet(Workload("cifar_cnn", batch=8))
    assert "zero_grad(set_to_none=True)" in freed and "set_to_none=False" not in freed
