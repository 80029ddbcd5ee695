"""`advise`: per-GPU applicability, the effective batch, honest ranking, re-prediction, nothing-fits answers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gpuplan.advise.advisor import advise, split_batch
from gpuplan.advise.candidates import applicable_techniques
from gpuplan.advise.hardware import amp_precision, bitsandbytes_support, fast_fp16, half_precision
from gpuplan.advise.layout import freeze_all_but_head, freeze_lower_half, model_layout
from gpuplan.advise.types import Advice, Risk
from gpuplan.api import fit_many
from gpuplan.catalog import get_gpu
from gpuplan.catalog.spec import parse_gpu_spec
from gpuplan.errors import UsageError
from gpuplan.workload.spec import InputSpec, Mode, Precision, Workload
from gpuplan.workload.zoo import resolve_model

TINY_MODELS = Path(__file__).resolve().parent / "tiny_models.py"
TRANSFORMER = Workload(f"{TINY_MODELS}:tiny_transformer", inputs=(InputSpec((32,), "int64"),))
# a made-up 0.5 GiB Pascal-class card (CC 6.1: bitsandbytes yes, fast FP16 no): small models hit its limit
TINY = parse_gpu_spec("name=Tiny,memory_gib=0.5,fp32_tflops=5,bandwidth_gbs=100,compute_capability=6.1")
NANO = parse_gpu_spec("name=Nano,memory_gib=0.25,fp32_tflops=5,bandwidth_gbs=100,compute_capability=6.1")


# --------------------------------------------------------------------------------------------- formulas


@pytest.mark.parametrize(("target", "max_micro", "expected"), [
    (64, 64, (64, 1)), (64, 100, (64, 1)), (64, 10, (8, 8)), (64, 16, (16, 4)), (32, 3, (3, 11)), (97, 10, (10, 10)),
    (1, 1, (1, 1)), (256, 1, (1, 256)),
])
def test_split_batch(target: int, max_micro: int, expected: tuple[int, int]) -> None:
    assert split_batch(target, max_micro) == expected


def test_split_batch_invariants() -> None:
    for target in range(1, 130):
        for max_micro in range(1, 70):
            micro, steps = split_batch(target, max_micro)
            assert 1 <= micro <= max_micro
            assert micro * steps >= target
            assert micro * steps - target < micro  # overshoot below one micro-batch
            assert steps <= -(-target // max_micro) * 1.25 + 1  # never many more steps than needed


# --------------------------------------------------------------------------------------------- per GPU


def test_mixed_precision_is_fast_only_where_the_hardware_runs_it() -> None:
    kepler, pascal61, turing, ampere = (get_gpu(n) for n in ("GTX 760", "GTX 1080", "T4", "RTX 3060 12GB"))
    assert not fast_fp16(kepler) and not fast_fp16(pascal61)
    assert fast_fp16(turing) and fast_fp16(ampere)
    assert amp_precision(kepler) == (Precision.AMP_FP16, False)
    assert amp_precision(turing) == (Precision.AMP_FP16, True)  # no bf16 on Turing
    assert amp_precision(ampere) == (Precision.AMP_BF16, True)
    assert half_precision(ampere) == (Precision.FP16, True)


def test_bitsandbytes_support_from_its_table() -> None:
    assert bitsandbytes_support(get_gpu("GTX 760")).supported is False
    p = bitsandbytes_support(get_gpu("GTX 1080"))
    assert p.supported is True and p.recommended is False and p.source == "BNB-README-0.50.2"
    assert bitsandbytes_support(get_gpu("RTX 3060 12GB")).recommended is True
    sources = (Path(__file__).resolve().parents[2] / "src/gpuplan/advise/data/SOURCES.md").read_text()
    assert "BNB-README-0.50.2" in sources


def _techniques(w: Workload, gpu_name: str, finetune: bool = False) -> tuple[list[str], dict[str, str]]:
    gpu = get_gpu(gpu_name)
    t = applicable_techniques(w, gpu, resolve_model(w), finetune=finetune, layout=lambda: model_layout(w))
    return [x.key for x in t.singles], {s.key: str(s.reason) for s in t.skipped}


def test_techniques_on_kepler_and_ampere() -> None:
    keys, skipped = _techniques(Workload("cifar_cnn"), "GTX 760")
    assert "amp-fp16" in keys and keys[-1] != "checkpointing"
    assert keys.index("amp-fp16") > keys.index("checkpointing")  # memory-only AMP is tried late on Kepler
    assert "compute capability 6.0+" in skipped["optimizer:adam8bit"]
    assert "fine-tuning" in skipped["lora/freeze"]
    keys, _ = _techniques(Workload("cifar_cnn"), "RTX 3060 12GB")
    assert keys[0] == "amp-bf16" and "optimizer:adam8bit" in keys  # the fast one first


def test_kept_zeroed_grads_offer_freeing_them_first() -> None:
    """--keep-zeroed-grads: freeing gradients between steps (set_to_none=True) costs nothing, so it is tried
    first; applying it drops only that setting."""
    w = Workload("cifar_cnn", extra=(("foreach", False), ("set_to_none", False)))
    gpu = get_gpu("GTX 760")
    t = applicable_techniques(w, gpu, resolve_model(w), finetune=False, layout=lambda: model_layout(w))
    assert t.singles[0].key == "zero-grad:set-to-none"
    assert t.singles[0].apply(w).extra == (("foreach", False),)
    keys, _ = _techniques(Workload("cifar_cnn"), "GTX 760")
    assert "zero-grad:set-to-none" not in keys


def test_inference_offers_16bit_and_quantized_weights() -> None:
    keys, _ = _techniques(Workload("mlp", mode=Mode.INFER), "RTX 3060 12GB")
    assert keys == ["fp16", "quant:int8", "quant:nf4"]
    keys, skipped = _techniques(Workload("mlp", mode=Mode.INFER), "GTX 760")
    assert keys == ["fp16"] and "quant:int8" in skipped and "quant:nf4" in skipped
    resnet_like = Workload(f"{TINY_MODELS}:resnet_names", inputs=(InputSpec((3, 32, 32)),), mode=Mode.INFER)
    _, skipped = _techniques(resnet_like, "RTX 3060 12GB")
    assert "Linear layers" in skipped["quantization"]  # convolutions and a head: nothing to quantize


def test_finetuning_techniques() -> None:
    keys, _ = _techniques(TRANSFORMER, "RTX 3060 12GB", finetune=True)
    assert {"lora:r8", "qlora:nf4-r16", "freeze:lower-half", "freeze:all-but-head"} <= set(keys)
    keys, skipped = _techniques(TRANSFORMER, "GTX 760", finetune=True)
    assert "qlora:nf4-r16" not in keys and "compute capability" in skipped["qlora"]


def test_freeze_choices_are_exact_globs() -> None:
    lay = model_layout(TRANSFORMER)
    assert not isinstance(lay, str) and lay.blocks == ("blocks.0", "blocks.1", "blocks.2", "blocks.3")
    half = freeze_lower_half(lay)
    assert not isinstance(half, str) and half.globs == ("embed.", "blocks.0.", "blocks.1.")
    head = freeze_all_but_head(lay)
    assert not isinstance(head, str) and head.globs == ("embed.", "blocks.")
    resnet_like = model_layout(Workload(f"{TINY_MODELS}:resnet_names", inputs=(InputSpec((3, 32, 32)),)))
    assert not isinstance(resnet_like, str)
    # globs are anchored module prefixes: the root conv1 does not also select the blocks' conv1
    half = freeze_lower_half(resnet_like)
    assert not isinstance(half, str) and half.globs == ("conv1.", "bn1.", "layer1.")


# --------------------------------------------------------------------------------------------- the search


def _keys(a: Advice) -> list[list[str]]:
    return [[c.key for c in p.changes] for p in a.plans]


def _check_ranked(a: Advice) -> None:
    assert a.plans, "expected plans"
    sps = [p.time.samples_per_second for p in a.plans]
    assert sps == sorted(sps, reverse=True)
    for i, p in enumerate(a.plans, 1):
        assert p.rank == i and p.fits
        assert p.memory.device_total_bytes <= (p.memory.capacity_bytes or 0)
        assert p.risk.level == max((c.risk.level for c in p.changes), default=0)


def test_roomy_target_fits_as_given_and_plan_one_is_a_real_prediction() -> None:
    gpu = get_gpu("GTX 760")
    a = advise(Workload("lenet5"), gpu, target_batch=64)
    _check_ranked(a)
    assert [] in _keys(a)  # the workload as given is one of the plans
    assert all(p.effective_batch == 64 and p.grad_accum == 1 for p in a.plans)
    skipped = {s.key for s in a.skipped}
    assert {"checkpointing", "amp-fp16"} <= skipped  # they only trade speed for memory, memory is not short
    best = a.plans[0]
    assert best.verified
    # the plan's numbers are those of the memory and speed engines on its own workload
    ref = fit_many(best.workload, [gpu])[0]
    assert ref.memory.device_total_bytes == best.memory.device_total_bytes
    assert ref.time.samples_per_second == pytest.approx(best.time.samples_per_second)
    assert a.snippet is None  # the CLI adds it


def test_accumulation_keeps_the_effective_batch() -> None:
    a = advise(Workload("cifar_cnn"), TINY, target_batch=4096, budget=4)
    _check_ranked(a)
    assert a.search is not None and a.search.candidates_evaluated <= 4
    for p in a.plans:
        assert p.grad_accum > 1 and p.micro_batch <= p.max_micro_batch
        assert p.effective_batch == p.micro_batch * p.grad_accum >= 4096
        acc = next(c for c in p.changes if c.key == "grad-accum")
        assert f"effective batch {p.effective_batch}" in str(acc.summary)
        if p.effective_batch != 4096:
            assert "not a multiple" in str(acc.summary) and acc.risk is Risk.LOW
        # time of a whole optimizer step: grad_accum micro-steps
        assert p.time.batch == p.effective_batch


def test_fast_amp_wins_on_ampere() -> None:
    a = advise(Workload("cifar_cnn"), get_gpu("RTX 3060 12GB"), target_batch=256, budget=3)
    _check_ranked(a)
    assert _keys(a)[0] == ["amp-bf16"]
    assert all(p.caveats == [] for p in a.plans if [c.key for c in p.changes] == ["amp-bf16"])


def test_inference_plans_quantized_weights() -> None:
    a = advise(Workload("mlp", mode=Mode.INFER), get_gpu("RTX 3060 12GB"), target_batch=256)
    _check_ranked(a)
    keys = {k[0] for k in _keys(a) if k}
    assert {"fp16", "quant:int8", "quant:nf4"} <= keys
    int8 = next(p for p in a.plans if p.changes and p.changes[0].key == "quant:int8")
    assert any("dequantization" in str(c) for c in int8.caveats)
    assert all(p.micro_batch == 256 and p.grad_accum == 1 for p in a.plans)


def test_finetuning_plans_on_a_small_card() -> None:
    a = advise(TRANSFORMER, TINY, target_batch=512, finetune=True, budget=5)
    _check_ranked(a)
    keys = {k for ks in _keys(a) for k in ks}
    assert keys & {"lora:r8", "qlora:nf4-r16", "freeze:lower-half", "freeze:all-but-head"}
    head = [p for p in a.plans if any(c.key == "freeze:all-but-head" for c in p.changes)]
    assert all(p.risk is Risk.HIGH for p in head)
    a = advise(TRANSFORMER, TINY, target_batch=512, finetune=False, budget=2)
    assert "lora/freeze" in {s.key for s in a.skipped}


def test_nothing_fits_gives_memory_and_cheapest_gpus() -> None:
    a = advise(Workload("cifar_cnn"), NANO, target_batch=64)
    assert a.plans == [] and a.nothing_fits is not None
    nf = a.nothing_fits
    assert nf.device_bytes_at_batch1 is not None and nf.device_bytes_at_batch1 > (NANO.memory_bytes or 0) * 0.985
    assert nf.smallest_memory_bytes is not None and nf.smallest_memory_gpu
    assert get_gpu(nf.smallest_memory_gpu).memory_bytes == nf.smallest_memory_bytes
    assert nf.cheapest and all(o.price is not None and o.price_date for o in nf.cheapest)
    prices = [o.price or 0 for o in nf.cheapest]
    assert prices == sorted(prices)
    assert all((o.memory_bytes or 0) >= nf.smallest_memory_bytes for o in nf.cheapest)
    # the CUDA context alone is larger than this card: every technique is pruned without a trace
    assert any("CUDA context alone" in str(r.reason) for r in a.rejected)


def test_bad_input_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="target-batch"):
        advise(Workload("lenet5"), TINY, target_batch=0)
    with pytest.raises(UsageError, match="generate"):
        advise(replace(Workload("lenet5"), mode=Mode.GENERATE), TINY)
    with pytest.raises(UsageError, match="budget"):
        advise(Workload("lenet5"), TINY, budget=0)


# --------------------------------------------------------------------------------------------- real models


@pytest.mark.slow
def test_resnet50_on_gtx760_amp_is_only_a_memory_trade() -> None:
    a = advise(Workload("resnet50"), get_gpu("GTX 760"), target_batch=64)
    _check_ranked(a)
    assert all(64 <= p.effective_batch < 64 + p.micro_batch for p in a.plans)
    amp = [p for p in a.plans if any(c.key == "amp-fp16" for c in p.changes)]
    for p in amp:  # offered (it saves memory) with the caveat that Kepler has no FP16 arithmetic
        assert any("no fast FP16 arithmetic" in str(c) for c in p.caveats)
        assert p.max_micro_batch > min(q.max_micro_batch for q in a.plans)
    assert a.search is not None and a.search.traces <= 20


@pytest.mark.slow
def test_bert_base_adamw_does_not_fit_gtx760() -> None:
    a = advise(Workload("bert-base-uncased", seq_len=128), get_gpu("GTX 760"), target_batch=32)
    _check_ranked(a)
    assert any(not r.changes for r in a.rejected)  # AdamW as given: not even batch 1
    for p in a.plans:
        assert {c.key for c in p.changes} & {"optimizer:adafactor", "optimizer:sgd-momentum", "lora:r8",
                                            "freeze:lower-half", "freeze:all-but-head", "cpu-offload"}
    assert "optimizer:adam8bit" in {s.key for s in a.skipped}  # bitsandbytes needs CC 6.0+


@pytest.mark.slow
def test_llama7b_training_on_gtx760_nothing_fits() -> None:
    a = advise(Workload("meta-llama/Llama-2-7b-hf", seq_len=256), get_gpu("GTX 760"), target_batch=8)
    assert a.plans == [] and a.nothing_fits is not None
    nf = a.nothing_fits
    assert nf.original_device_bytes_at_batch1 is not None and nf.device_bytes_at_batch1 is not None
    assert nf.device_bytes_at_batch1 < nf.original_device_bytes_at_batch1 / 4  # LoRA/QLoRA need far less
    assert nf.smallest_memory_bytes is not None and nf.cheapest
