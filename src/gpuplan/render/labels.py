"""Names of the engines' keys as people read them, translated: memory categories, op classes, step
phases and what bounds a step. Every renderer (text, charts, report, web page) uses these."""

from __future__ import annotations

from gpuplan.i18n import tr


def op_class_label(key: str) -> str:
    """An op class of the timing model ("matmul", "overhead", ...) in the current language."""
    names = {
        "matmul": tr("matmul"), "conv": tr("conv"), "attention": tr("attention"), "rnn": tr("rnn"),
        "norm": tr("norm"), "elementwise": tr("elementwise"), "reduction": tr("reduction"),
        "embedding": tr("embedding"), "pool": tr("pool"), "optimizer": tr("optimizer"), "copy": tr("copy"),
        "view": tr("view"), "other": tr("other"), "overhead": tr("overhead"),
    }
    return names.get(key, key)


def phase_label(key: str) -> str:
    """A phase of the step ("forward", "decode", ...) in the current language."""
    names = {"setup": tr("setup"), "forward": tr("forward"), "loss": tr("loss"), "backward": tr("backward"),
             "optimizer": tr("optimizer"), "prefill": tr("prefill"), "decode": tr("decode")}
    return names.get(key, key)


def bound_label(key: str | None) -> str:
    """What limits the step ("compute" / "memory" / "overhead") in the current language."""
    names = {"compute": tr("compute"), "memory": tr("memory"), "overhead": tr("overhead")}
    return names.get(key or "", key or "N/A")


def bound_phrase(key: str | None) -> str:
    """``compute-bound`` / ``memory-bound`` / ``overhead-bound`` in the current language."""
    names = {"compute": tr("compute-bound"), "memory": tr("memory-bound"), "overhead": tr("overhead-bound")}
    return names.get(key or "", tr("{x}-bound", x=key or "N/A"))


def category_label(key: str) -> str:
    """Human name of a memory category key ("optimizer_state" -> "optimizer state"), translated."""
    names = {
        "parameters": tr("parameters"), "buffers": tr("buffers"), "gradients": tr("gradients"),
        "optimizer_state": tr("optimizer state"), "activations": tr("activations"),
        "temporaries": tr("temporaries"), "inputs": tr("inputs"), "kv_cache": tr("KV cache"),
        "workspaces": tr("workspaces"), "allocator_overhead": tr("allocator cache"),
        "cuda_context": tr("CUDA context"),
    }
    return names.get(key, key.replace("_", " "))
