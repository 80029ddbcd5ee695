"""gpuplan: can this GPU run my model — will it fit, how fast, what to change, which GPU to get.

Answers come from a GPU catalog with sources and from one traced step of the model under fake
tensors, so no GPU is needed.
"""

from __future__ import annotations

__version__ = "0.1.0"
