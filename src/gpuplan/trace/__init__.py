"""Trace one step of a workload under fake tensors: ops and memory events, GPU-independent but for
the target kernels named in a ``KernelProfile``."""

from gpuplan.trace.records import Category, KernelProfile, MemEvent, OpClass, OpRecord, Phase, Trace
from gpuplan.trace.tracer import trace_workload

__all__ = ["Category", "KernelProfile", "MemEvent", "OpClass", "OpRecord", "Phase", "Trace", "trace_workload"]
