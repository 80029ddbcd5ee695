"""trace_workload: exact persistent bytes, techniques, precisions, kernel emulation, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from gpuplan.catalog import get_gpu
from gpuplan.errors import ModelBuildError, UsageError
from gpuplan.memory.predict import replay
from gpuplan.trace import KernelProfile, trace_workload
from gpuplan.trace.records import Category, EventKind, OpClass, Phase, Trace
from gpuplan.workload import seeds
from gpuplan.workload.spec import InputSpec, Mode, OptimizerKind, Precision, Workload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models.py"
GPU = get_gpu("RTX 3060 12GB")


def fx(name: str) -> str:
    return f"{FIXTURES}:{name}"


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def activation_bytes(t: Trace) -> int:
    return sum(e.nbytes for e in t.events if e.kind is EventKind.ALLOC and e.category is Category.ACTIVATION)


def peak_allocated(t: Trace) -> int:
    return replay(t, GPU).allocator.stats.peak_allocated


@pytest.mark.parametrize(("model", "module"), [("lenet5", seeds.LeNet5()), ("mlp", seeds.MLP()),
                                               ("cifar_cnn", seeds.CifarCNN())])
def test_seed_param_gradient_adamw_bytes_exact(model: str, module: nn.Module) -> None:
    n = n_params(module)
    t = trace_workload(Workload(model, batch=4))
    assert t.param_count == n
    assert t.trainable_param_count == n
    assert t.bytes_by_category["parameters"] == 4 * n
    assert t.bytes_by_category["gradients"] == 4 * n
    assert t.bytes_by_category["optimizer_state"] == 2 * 4 * n  # exp_avg + exp_avg_sq


def test_lenet5_has_61706_params() -> None:
    # 1*6*25+6 + 6*16*25+16 + 400*120+120 + 120*84+84 + 84*10+10
    assert trace_workload(Workload("lenet5", batch=1)).param_count == 61_706


@pytest.mark.parametrize(("opt", "factor"), [
    (OptimizerKind.SGD, 0), (OptimizerKind.SGD_MOMENTUM, 1), (OptimizerKind.ADAM, 2), (OptimizerKind.ADAMW, 2),
])
def test_optimizer_state_multiple_of_params(opt: OptimizerKind, factor: int) -> None:
    t = trace_workload(Workload("lenet5", batch=2, optimizer=opt))
    assert t.bytes_by_category.get("optimizer_state", 0) == factor * 4 * 61_706
    n_state_allocs = sum(1 for e in t.events if e.category is Category.OPTIMIZER_STATE and e.kind is EventKind.ALLOC)
    assert (n_state_allocs == 0) == (factor == 0)


def test_freeze_reduces_trainable_and_gradients() -> None:
    t = trace_workload(Workload("lenet5", batch=2, freeze=("features",)))
    frozen = 6 * 1 * 25 + 6 + 16 * 6 * 25 + 16
    assert t.param_count == 61_706
    assert t.trainable_param_count == 61_706 - frozen
    assert t.bytes_by_category["gradients"] == 4 * (61_706 - frozen)
    assert t.bytes_by_category["optimizer_state"] == 8 * (61_706 - frozen)


def test_freeze_matching_nothing_is_usage_error() -> None:
    with pytest.raises(UsageError, match="matched no parameter"):
        trace_workload(Workload("lenet5", batch=2, freeze=("no_such_module",)))


@pytest.mark.parametrize("rank", [2, 8])
def test_lora_trainable_params(rank: int) -> None:
    w = Workload(fx("mlp_linear"), batch=4, inputs=(InputSpec((32,)),), lora_rank=rank)
    t = trace_workload(w)
    expected = rank * (32 + 64) + rank * (64 + 64) + rank * (64 + 10)
    base = 32 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert t.trainable_param_count == expected
    assert t.param_count == base + expected
    assert t.bytes_by_category["gradients"] == 4 * expected


def test_lora_targets_restrict_layers() -> None:
    w = Workload(fx("mlp_linear"), batch=4, inputs=(InputSpec((32,)),), lora_rank=4, lora_targets=("2",))
    assert trace_workload(w).trainable_param_count == 4 * (64 + 64)


def test_amp_fp16_saves_half_precision_activations() -> None:
    inputs = (InputSpec((256,)),)
    fp32 = trace_workload(Workload(fx("blocks"), batch=2048, inputs=inputs))
    amp = trace_workload(Workload(fx("blocks"), batch=2048, inputs=inputs, precision=Precision.AMP_FP16))
    assert activation_bytes(amp) < activation_bytes(fp32)
    fwd_mm = [op for op in amp.ops if op.op_class is OpClass.MATMUL and op.phase is Phase.FORWARD]
    assert fwd_mm and all(op.dtype == "float16" for op in fwd_mm)
    # parameters stay fp32 under autocast
    assert amp.bytes_by_category["parameters"] == fp32.bytes_by_category["parameters"]


def test_infer_has_no_gradients_and_lower_peak() -> None:
    train = trace_workload(Workload("mlp", batch=256))
    infer = trace_workload(Workload("mlp", batch=256, mode=Mode.INFER))
    assert infer.trainable_param_count == 0
    assert infer.bytes_by_category.get("gradients", 0) == 0
    assert "optimizer_state" not in infer.bytes_by_category
    assert not any(e.category is Category.GRADIENT for e in infer.events)
    assert not any(op.phase is Phase.BACKWARD for op in infer.ops)
    assert peak_allocated(infer) < peak_allocated(train)


def test_tied_weights_counted_once() -> None:
    t = trace_workload(Workload(fx("tied_weights"), batch=4, inputs=(InputSpec((8,), "int64"),)))
    assert t.param_count == 100 * 32 + 100
    assert t.bytes_by_category["parameters"] == 4 * 3300
    assert t.bytes_by_category["gradients"] == 4 * 3300
    assert sum(1 for e in t.events if e.category is Category.PARAMETER and e.kind is EventKind.ALLOC) == 2


def test_reused_module_params_once_activations_twice() -> None:
    t = trace_workload(Workload(fx("reused_module"), batch=4, inputs=(InputSpec((16,)),)))
    assert t.param_count == 272
    assert t.bytes_by_category["gradients"] == 4 * 272
    fwd_mm = [op for op in t.ops if op.op_class is OpClass.MATMUL and op.phase is Phase.FORWARD]
    assert len(fwd_mm) == 2


def test_dict_output_and_two_inputs_trace() -> None:
    d = trace_workload(Workload(fx("dict_output"), batch=4, inputs=(InputSpec((16,)),)))
    assert d.param_count == 68
    assert any(op.phase is Phase.BACKWARD for op in d.ops)
    two = trace_workload(Workload(fx("two_inputs"), batch=4, inputs=(InputSpec((8,)), InputSpec((12,)))))
    assert two.param_count == 88
    inputs = [e.nbytes for e in two.events if e.kind is EventKind.ALLOC and e.category is Category.INPUT]
    assert 4 * 8 * 4 in inputs and 4 * 12 * 4 in inputs


def test_lstm_uses_cudnn_emulation() -> None:
    t = trace_workload(Workload(fx("lstm_bidirectional"), batch=4, inputs=(InputSpec((20, 16)),)))
    names = [op.name for op in t.ops]
    assert "gpuplan.cudnn_rnn_fwd" in names
    assert "gpuplan.cudnn_rnn_bwd" in names
    assert t.param_count == 2 * 4 * 32 * (16 + 32 + 2) + 64 * 4 + 4
    # the training forward keeps a reserve space: layers*dirs*T*B*hidden*(gates+2) fp32
    reserve = 1 * 2 * 20 * 4 * 32 * (4 + 2) * 4
    assert any(e.nbytes == reserve and e.category is Category.ACTIVATION for e in t.events)


def test_lstm_inference_has_no_reserve_space() -> None:
    t = trace_workload(Workload(fx("lstm_bidirectional"), batch=4, inputs=(InputSpec((20, 16)),), mode=Mode.INFER))
    assert "gpuplan.cudnn_rnn_fwd" in [op.name for op in t.ops]
    reserve = 1 * 2 * 20 * 4 * 32 * (4 + 2) * 4
    assert not any(e.nbytes == reserve for e in t.events)


def _attention(profile: str, model: str = "attention") -> Trace:
    w = Workload(fx(model), batch=8, inputs=(InputSpec((256, 64)),), precision=Precision.AMP_FP16)
    return trace_workload(w, KernelProfile(attention=profile))


def test_flash_profile_runs_flash_kernels() -> None:
    names = {op.name for op in _attention("flash").ops}
    assert {"gpuplan.flash_attention_fwd", "gpuplan.flash_attention_bwd"} <= names


def test_mask_rules_out_flash() -> None:
    names = {op.name for op in _attention("flash", "attention_with_mask").ops}
    assert "gpuplan.flash_attention_fwd" not in names
    assert "gpuplan.mem_efficient_attention_fwd" in names


def test_math_attention_materialises_scores() -> None:
    math = _attention("math")
    flash = _attention("flash")
    # B*H*L*L fp16 scores (plus softmax) exist only with the math backend
    assert peak_allocated(math) - peak_allocated(flash) >= 8 * 4 * 256 * 256 * 2


def test_checkpointing_lowers_activations_and_peak() -> None:
    inputs = (InputSpec((256,)),)
    plain = trace_workload(Workload(fx("blocks"), batch=512, inputs=inputs))
    ckpt = trace_workload(Workload(fx("blocks"), batch=512, inputs=inputs, checkpointing=True))
    assert activation_bytes(ckpt) < activation_bytes(plain)
    assert peak_allocated(ckpt) < peak_allocated(plain)
    # recomputation: more forward matmuls run (inside backward)
    assert sum(op.op_class is OpClass.MATMUL for op in ckpt.ops) > sum(op.op_class is OpClass.MATMUL for op in plain.ops)


def test_checkpointing_without_blocks_is_usage_error() -> None:
    with pytest.raises(UsageError, match="checkpointing"):
        trace_workload(Workload(fx("reused_module"), batch=2, inputs=(InputSpec((16,)),), checkpointing=True))


def test_grad_accum_keeps_persistent_bytes() -> None:
    one = trace_workload(Workload("mlp", batch=8))
    acc = trace_workload(Workload("mlp", batch=8, grad_accum=4))
    assert acc.bytes_by_category == one.bytes_by_category


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(ModelBuildError) as info:
        trace_workload(Workload("resnet5O", batch=1))
    assert "resnet50" in str(info.value)
    assert info.value.exit_code == 2


def test_user_factory_file(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "from torch import nn\n\ndef make(width=8):\n    return nn.Sequential(nn.Linear(4, width), nn.ReLU())\n")
    t = trace_workload(Workload(f"{tmp_path / 'm.py'}:make", batch=3, inputs=(InputSpec((4,)),),
                                model_args=(("width", 5),)))
    assert t.param_count == 4 * 5 + 5


def test_user_factory_without_inputs_is_clear_error(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef make():\n    return nn.Linear(4, 4)\n")
    with pytest.raises(ModelBuildError, match="inputs") as info:
        trace_workload(Workload(f"{tmp_path / 'm.py'}:make", batch=1))
    assert "--input" in str(info.value)


def test_user_factory_missing_attr_and_file(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def make_model():\n    pass\n")
    with pytest.raises(ModelBuildError, match="no callable 'make'"):
        trace_workload(Workload(f"{tmp_path / 'm.py'}:make", batch=1, inputs=(InputSpec((4,)),)))
    with pytest.raises(ModelBuildError, match="not found"):
        trace_workload(Workload(f"{tmp_path / 'nope.py'}:make", batch=1, inputs=(InputSpec((4,)),)))


def test_user_factory_returning_non_module(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def make():\n    return 3\n")
    with pytest.raises(ModelBuildError, match=r"not a torch\.nn\.Module"):
        trace_workload(Workload(f"{tmp_path / 'm.py'}:make", batch=1, inputs=(InputSpec((4,)),)))


@pytest.mark.parametrize("batch", [0, -3])
def test_non_positive_batch_is_usage_error(batch: int) -> None:
    with pytest.raises(UsageError, match="batch"):
        trace_workload(Workload("lenet5", batch=batch))


def test_quantized_training_without_lora_is_usage_error() -> None:
    with pytest.raises(UsageError, match="lora-rank"):
        trace_workload(Workload("mlp", batch=1, precision=Precision.INT4))


def test_int8_inference_stores_one_byte_weights() -> None:
    fp32 = trace_workload(Workload(fx("mlp_linear"), batch=2, inputs=(InputSpec((32,)),), mode=Mode.INFER))
    q = trace_workload(Workload(fx("mlp_linear"), batch=2, inputs=(InputSpec((32,)),), mode=Mode.INFER,
                                precision=Precision.INT8))
    assert q.bytes_by_category["parameters"] < fp32.bytes_by_category["parameters"] / 2


@pytest.mark.slow
def test_resnet50_exact_state_bytes(resnet50_b64: Trace) -> None:
    n = 25_557_032
    assert resnet50_b64.param_count == n
    assert resnet50_b64.bytes_by_category["parameters"] == 4 * n
    assert resnet50_b64.bytes_by_category["optimizer_state"] == 2 * 4 * n
    assert resnet50_b64.bytes_by_category["gradients"] == 4 * n


@pytest.fixture(scope="module")
def resnet50_b64() -> Trace:
    return trace_workload(Workload("resnet50", batch=64))


@pytest.mark.parametrize("attention", ["flash", "math"])
def test_checkpointed_llama_recomputes_with_the_target_kernels(attention: str) -> None:
    """Backward recomputation runs without torch-function modes; the tracer re-enters its kernel
    emulation there (else the recomputed block saves different tensors and checkpoint refuses)."""
    fixture = str(Path(__file__).parents[1] / "fixtures" / "tiny_llama_gqa.json")
    w = Workload("tiny-llama", hf_config=fixture, batch=2, seq_len=32, checkpointing=True)
    t = trace_workload(w, KernelProfile(attention=attention))
    backward_attention = [o for o in t.ops if o.phase is Phase.BACKWARD and "attention" in o.name]
    if attention == "flash":
        assert backward_attention  # the recomputed forward and the attention backward, both emulated


def _dropout_factory(tmp_path: Path, inplace: bool) -> str:
    (tmp_path / "drop.py").write_text(
        "from torch import nn\n\n"
        f"def make():\n    return nn.Sequential(nn.Linear(64, 256), nn.Dropout(0.1, inplace={inplace}), "
        "nn.Linear(256, 4))\n")
    return f"{tmp_path / 'drop.py'}:make"


def test_training_dropout_is_cuda_fused_with_a_bool_mask(tmp_path: Path) -> None:
    """CUDA runs out-of-place dropout as native_dropout: output + a 1-byte mask saved for backward (the
    CPU, where gpuplan traces, would make a float32 noise tensor of 4 bytes per element)."""
    t = trace_workload(Workload(_dropout_factory(tmp_path, False), batch=32, inputs=(InputSpec((64,)),)))
    names = [o.name for o in t.ops]
    assert "aten.native_dropout.default" in names and "aten.native_dropout_backward.default" in names
    assert "aten.bernoulli_.float" not in names
    fwd = [e for e in t.events if e.kind is EventKind.ALLOC and e.phase is Phase.FORWARD]
    assert 32 * 256 * 1 in {e.nbytes for e in fwd}  # the bool mask
    assert 32 * 256 * 4 in {e.nbytes for e in fwd}  # the output


def test_inplace_dropout_is_not_fused(tmp_path: Path) -> None:
    """at::dropout_ (in place) takes the unfused path on CUDA too: a noise tensor of the input's dtype."""
    t = trace_workload(Workload(_dropout_factory(tmp_path, True), batch=32, inputs=(InputSpec((64,)),)))
    assert "aten.native_dropout.default" not in [o.name for o in t.ops]


def test_keep_zeroed_grads_holds_gradients_for_the_whole_step() -> None:
    """zero_grad(set_to_none=False): the gradients exist before the forward pass and are never freed, so
    a peak early in backward (activation-heavy CNN) carries all of them; with set_to_none it does not."""
    gpu = get_gpu("GTX 760")
    kept = trace_workload(Workload("cifar_cnn", batch=256, extra=(("set_to_none", False),)))
    freed = trace_workload(Workload("cifar_cnn", batch=256))
    grad_bytes = kept.bytes_by_category[Category.GRADIENT.value]
    assert grad_bytes == freed.bytes_by_category[Category.GRADIENT.value] > 0
    setup_grads = [e for e in kept.events if e.kind is EventKind.ALLOC and e.phase is Phase.SETUP
                   and e.category is Category.GRADIENT]
    assert sum(e.nbytes for e in setup_grads) == grad_bytes
    blocks = {e.block for e in setup_grads}
    assert not [e for e in kept.events if e.kind is EventKind.FREE and e.block in blocks]
    r_kept, r_freed = replay(kept, gpu), replay(freed, gpu)
    assert r_freed.peak_phase == "backward"
    assert r_kept.peak_alloc_live.get(Category.GRADIENT, 0) >= grad_bytes
    assert r_kept.allocator.stats.peak_allocated > r_freed.allocator.stats.peak_allocated


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_math_attention_dropout_matches_the_cuda_composite_op_for_op(dtype: str) -> None:
    """The math SDPA with dropout gpuplan traces on the CPU makes the same tensors (shape, dtype), in the
    same order, as PyTorch's composite does on (fake) CUDA tensors, where its dropout is the fused kernel."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils._python_dispatch import TorchDispatchMode

    from gpuplan.trace.kernels import _math_sdpa_cuda_dropout

    class Outputs(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.made: list[tuple[str, tuple[int, ...], str]] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            name = str(func)
            if not name.startswith("prim.") and name not in ("aten.view.default", "aten.expand.default",
                                                              "aten.transpose.int", "aten.detach.default",
                                                              "aten._unsafe_view.default"):
                for o in out if isinstance(out, (tuple, list)) else [out]:
                    if isinstance(o, torch.Tensor):
                        self.made.append((name, tuple(o.shape), str(o.dtype)))
            return out

    dt = getattr(torch, dtype)
    with FakeTensorMode():
        qc = torch.randn(2, 4, 16, 8, dtype=dt, device="cuda", requires_grad=True)
        mc = torch.zeros(16, 16, dtype=dt, device="cuda")
        cuda = Outputs()
        with cuda:
            torch.ops.aten._scaled_dot_product_attention_math(qc, qc, qc, mc, 0.1, False, None, scale=None)
        q = torch.randn(2, 4, 16, 8, dtype=dt, requires_grad=True)
        m = torch.zeros(16, 16, dtype=dt)
        ours = Outputs()
        with ours:
            _math_sdpa_cuda_dropout(q, q, q, m, 0.1, False, None)
    # the same tensors in the same order (op overloads may differ: a Python float multiplies via mul.Tensor)
    assert [x[1:] for x in cuda.made] == [x[1:] for x in ours.made]
    assert ("aten.native_dropout.default", (2, 4, 16, 16), "torch.bool") in ours.made
    assert ("aten.native_dropout.default", (2, 4, 16, 16), "torch.bool") in cuda.made
