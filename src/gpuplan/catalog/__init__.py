"""The GPU catalog: sourced specs, forgiving lookup, custom specs, features and compatibility.

>>> from gpuplan.catalog import get_gpu, compat_report
>>> gpu = get_gpu("gtx 760")
>>> compat_report(gpu, local_torch=False).pytorch_official.last
'0.3.0'
"""

from gpuplan.catalog.compat import CompatReport, compat_report
from gpuplan.catalog.features import features
from gpuplan.catalog.gpus import load_catalog
from gpuplan.catalog.lookup import closest_names, get_gpu, resolve_gpus
from gpuplan.catalog.spec import load_gpu_spec
from gpuplan.catalog.types import GPU, Features
from gpuplan.catalog.verdict import verdict

__all__ = [
    "GPU",
    "CompatReport",
    "Features",
    "closest_names",
    "compat_report",
    "features",
    "get_gpu",
    "load_catalog",
    "load_gpu_spec",
    "resolve_gpus",
    "verdict",
]
