"""A plain-words verdict: what deep learning work a GPU suits, from its specs, features and software.

Memory arithmetic counts weights (and for training, gradients and optimizer state) only: activations,
KV cache, the CUDA context and allocator overhead come on top, so these are upper bounds. Bytes per
parameter: 2 for fp16/bf16 weights, 0.5 for 4-bit weights, 16 for mixed-precision AdamW training
(fp16 weights + fp16 grads + fp32 master weights, momentum and variance; ZeRO paper §3.1).
"""

from __future__ import annotations

from gpuplan.catalog.compat import CompatReport
from gpuplan.catalog.types import GPU, Features
from gpuplan.i18n import msg

BYTES_PER_PARAM_FP16 = 2.0
BYTES_PER_PARAM_INT4 = 0.5
BYTES_PER_PARAM_ADAMW_MIXED = 16.0  # ZeRO §3.1: 2 + 2 + (4 + 4 + 4)


def max_params(memory_bytes: int, bytes_per_param: float) -> float:
    """Parameters whose state fills ``memory_bytes`` at ``bytes_per_param`` (an upper bound)."""
    return memory_bytes / bytes_per_param


def _fmt_params(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f} B"
    return f"{n / 1e6:.0f} M"


def software_verdict(gpu: GPU, compat: CompatReport) -> str:
    pt = compat.pytorch_official
    if gpu.vendor == "Apple":
        return msg("Runs PyTorch through the MPS (Metal) backend on macOS; CUDA-only tools do not apply.")
    if gpu.vendor == "AMD":
        status = compat.rocm.linux or msg("ROCm status not found")
        return msg("Runs PyTorch only through ROCm on Linux (ROCm: {status}); CUDA-only tools do not apply.",
                   status=status)
    if gpu.cc_tuple is None:
        return msg("Not a CUDA device: PyTorch support for it is outside gpuplan's sources.")
    if pt.newest_runnable is None:
        return msg("No official PyTorch build runs on it: CPU or a source build only.")
    if pt.last is None:
        return msg("Runs current PyTorch ({version}, {backend}).", version=pt.newest_runnable,
                   backend=compat.install.backend)
    if pt.last.startswith("0.") or pt.last.startswith("1."):
        return msg("Too old for today's frameworks: the last official PyTorch with kernels for it is {last} "
                   "(CUDA <= {cuda}). Learn on the CPU or upgrade for real work.", last=pt.last,
                   cuda=compat.cuda_toolkit.max)
    if any("expected to drop" in n for n in pt.notes):
        return msg("Runs PyTorch up to {last} ({backend}); the next release is expected to drop it (proposal, not "
                   "verified).", last=pt.last, backend=compat.install.backend)
    return msg("Supported only by older PyTorch: the newest official build for it is {version} ({backend}); later "
               "releases dropped it.", version=pt.newest_runnable, backend=compat.install.backend)


def precision_verdict(feats: Features) -> str:
    if feats.bf16 and feats.tensor_cores:
        if feats.tf32:
            return (msg("Tensor cores with BF16 and FP8: train with bf16 autocast; TF32 speeds up FP32 matmuls.")
                    if feats.fp8 else
                    msg("Tensor cores with BF16: train with bf16 autocast; TF32 speeds up FP32 matmuls."))
        return (msg("Matrix cores with BF16 and FP8: train with bf16 autocast.") if feats.fp8
                else msg("Matrix cores with BF16: train with bf16 autocast."))
    if feats.tensor_cores:
        return msg("FP16 tensor cores (no BF16): train with fp16 autocast and loss scaling.")
    if feats.fp16_math:
        return msg("FP16 math but no tensor cores: mixed precision saves memory, with a modest speed-up.")
    if "fp16_math" in feats.unknown:
        return msg("Precision support (FP16/BF16) is not known from gpuplan's sources.")
    return msg("No fast FP16 math and no tensor cores: train in FP32; mixed precision saves memory but not time.")


def memory_verdict(gpu: GPU) -> str:
    if gpu.memory_bytes is None:
        return msg("Memory capacity unknown: sizing questions cannot be answered.")
    m = gpu.memory_bytes
    return msg("Memory ({gib} GiB) holds at most the weights of a ~{fp16}-parameter model in fp16/bf16 (~{int4} in "
               "4-bit), or full AdamW mixed-precision training of ~{adamw} parameters, before activations and "
               "overheads.", gib=f"{m / 2**30:.0f}", fp16=_fmt_params(max_params(m, BYTES_PER_PARAM_FP16)),
               int4=_fmt_params(max_params(m, BYTES_PER_PARAM_INT4)),
               adamw=_fmt_params(max_params(m, BYTES_PER_PARAM_ADAMW_MIXED)))


_SUITS_MODERN = (  # (memory below GiB, what it suits) for GPUs with fast FP16/BF16 matrix units
    (4, msg("learning and small models (MNIST/CIFAR-size CNNs, small RNNs), small batches")),
    (10, msg("training small CNNs and transformers, fine-tuning BERT-base-size models, inference of small (1-3 B) "
             "LLMs with quantisation")),
    (20, msg("CNN training at usual batch sizes, fine-tuning models up to ~1 B parameters, LoRA on 7 B LLMs in "
             "4-bit")),
    (40, msg("most single-GPU training, LoRA fine-tuning of 7-13 B LLMs, fp16 inference of 7-13 B LLMs")),
    (100, msg("large-model fine-tuning and inference (e.g. 30-70 B LLMs quantised), a building block for multi-GPU "
              "training")),
    (float("inf"), msg("large-model training and inference; the building block of multi-GPU clusters")),
)
_SUITS_FP32 = (  # for GPUs without tensor/matrix units: FP32 work, no LLM tooling (4-bit kernels need them)
    (4, msg("learning and small models (MNIST/CIFAR-size CNNs, small RNNs), small batches")),
    (10, msg("learning and small-to-medium CNN/RNN training in FP32")),
    (float("inf"), msg("CNN/RNN and small-transformer training in FP32 at usual batch sizes; slow for LLM work")),
)


def suits_verdict(gpu: GPU, compat: CompatReport, feats: Features) -> str:
    pt = compat.pytorch_official
    if gpu.vendor == "NVIDIA" and pt.newest_runnable is None:
        return msg("Suits: nothing beyond learning CUDA basics; use the CPU or a newer GPU for deep learning.")
    if gpu.vendor == "NVIDIA" and pt.last is not None and pt.last[0] in "01":
        return msg("Suits: learning and tiny experiments with an old software stack.")
    if gpu.memory_bytes is None:
        return msg("Suits: not assessable without the memory size.")
    gib = gpu.memory_bytes / 2**30
    if gpu.vendor == "Apple":
        return msg("Suits: prototyping and inference on macOS; the memory is shared with the CPU, so the usable "
                   "part is smaller than the figure shown.")
    table = _SUITS_MODERN if feats.tensor_cores else _SUITS_FP32
    text = next(t for limit, t in table if gib < limit)
    return msg("Suits: {what}.", what=text)


def verdict(gpu: GPU, compat: CompatReport, feats: Features) -> list[str]:
    """Plain-words lines: software, suitability, precision, memory."""
    return [software_verdict(gpu, compat), suits_verdict(gpu, compat, feats), precision_verdict(feats),
            memory_verdict(gpu)]
