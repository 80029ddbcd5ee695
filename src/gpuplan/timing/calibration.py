"""Map the rows of ``perf.csv`` (published speed measurements) to gpuplan workloads and catalog GPUs.

Each row becomes a ``CalibRow``: which calibration workload (model, mode, optimizer), which precision
as PyTorch would see it, which batch, which catalog GPU, and the measured samples/s, or an exclusion
reason. Decisions that are assumptions (not stated in the row) are listed in ``assumptions``.

Precision rules taken from the rows' own notes:
  * Lambda PyTorch benchmarks ran in NGC containers (20.01/20.10 in v1, 22.09..24.10 in v2). NGC
    PyTorch containers enable TF32 for cuBLAS (``TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1``) and PyTorch
    < 1.12 allowed TF32 matmul by default anyway, so their "fp32" column on compute capability >= 8.0
    is ``tf32`` (matmul and conv); on older GPUs it is plain fp32.
  * NVIDIA DeepLearningExamples "tf32" rows are ``tf32``; "amp" and Lambda v2 ResNet-50 "fp16-amp"
    (DLE ``--amp``: torch.cuda.amp) are ``amp-fp16``. Lambda v1 "fp16-mixed" rows say "apex-style FP16
    w/ master weights" and Lambda v2 BERT says "FP16 config": the model runs in FP16 with FP32 master
    weights (apex O2), traced as ``fp16`` (model.half(): no autocast casts, FP16 elementwise ops).
  * tf_cnn_benchmarks (TensorFlow) "fp16" is mixed precision (FP32 variables, loss scaling):
    ``amp-fp16``. Its "fp32" on Ampere is assumed TF32 (TensorFlow >= 2.4 and NGC TF enable TF32 by
    default; the CUDA 10.0 named in the notes cannot run on Ampere, so a newer build was used there).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from gpuplan.workload.spec import Mode, Precision

# perf.csv GPU label -> catalog name ("" = not in the catalog; the reason is in GPU_MISSING)
GPU_MAP: dict[str, str] = {
    "RTX 3090": "GeForce RTX 3090",
    "RTX A6000": "RTX A6000",
    "RTX 4090": "GeForce RTX 4090",
    "Quadro RTX 8000": "Quadro RTX 8000",
    "A100 40GB PCIe": "A100 40GB PCIe",
    "A100 40GB SXM4": "A100 40GB SXM4",
    "A100 80GB PCIe": "A100 80GB PCIe",
    "A100 80GB SXM4": "A100 80GB SXM4",
    "A100 80GB SXM4 (DGX A100)": "A100 80GB SXM4",
    "V100 16GB SXM2 (DGX-1)": "Tesla V100 SXM2 16GB",
    "V100 32GB SXM2 (DGX-1)": "Tesla V100 SXM2 32GB",
    "V100 32GB (form factor not stated)": "Tesla V100 SXM2 32GB",
    "V100 16GB (cloud; form factor not stated)": "Tesla V100 SXM2 16GB",
    "RTX 3080": "GeForce RTX 3080",
    "RTX 3080 10GB": "GeForce RTX 3080",
    "RTX 3080 Ti 12GB": "GeForce RTX 3080 Ti",
    "RTX 3070": "GeForce RTX 3070",
    "RTX 2080 Ti": "GeForce RTX 2080 Ti",
    "GTX 1080 Ti": "GeForce GTX 1080 Ti",
    "Titan RTX": "TITAN RTX",
    "Quadro RTX 5000": "Quadro RTX 5000",
    "Quadro RTX 6000": "Quadro RTX 6000",
    "RTX A4000": "RTX A4000",
    "RTX A5000": "RTX A5000",
    "A40": "A40",
    "A10": "A10",
    "T4": "Tesla T4",
    "RTX 6000 Ada": "RTX 6000 Ada Generation",
    "RTX 4000 Ada 20GB": "RTX 4000 Ada Generation",
    "RTX 5000 Ada 32GB": "RTX 5000 Ada Generation",
    "RTX 4080 16GB": "GeForce RTX 4080",
    "RTX 4070 Ti 12GB": "GeForce RTX 4070 Ti",
    "L40S 48GB": "L40S",
    "H100 80GB PCIe": "H100 PCIe 80GB",
    "H100 80GB SXM5": "H100 SXM5 80GB",
    "GH200 96GB": "GH200 (GPU)",
    "B200 192GB": "B200",
    "RTX 5090": "GeForce RTX 5090",
}

GPU_ASSUMPTIONS: dict[str, str] = {
    "V100 32GB (form factor not stated)": "form factor not stated: assumed SXM2 (Lambda servers); PCIe is ~10% slower",
    "V100 16GB (cloud; form factor not stated)": "form factor not stated: assumed SXM2 (Lambda Cloud); PCIe is ~10% slower",
    "GH200 96GB": "catalog 'GH200 (GPU)' lists the HBM3e bandwidth (4.9 TB/s); the 96 GB part has HBM3 (4.0 TB/s)",
}

GPU_MISSING: dict[str, str] = {
    "RTX 3080 Max-Q (laptop)": "laptop RTX 3080 Max-Q is not in the catalog",
    "RTX 2080 Super Max-Q (laptop)": "laptop RTX 2080 Super Max-Q is not in the catalog",
    "RTX 2080 Max-Q (laptop)": "laptop RTX 2080 Max-Q is not in the catalog",
    "RTX 2070 Max-Q (laptop)": "laptop RTX 2070 Max-Q is not in the catalog",
    "RTX PRO 6000 Blackwell Max-Q": "catalog has the 600 W Workstation Edition only, not the 300 W Max-Q",
    "AMD Radeon Pro VII (Vega 20, gfx906)": "Radeon Pro VII is not in the catalog",
}

AMPERE_PLUS_TF32_GPUS_NOTE = "NGC container: TF32 on for matmul and conv on compute capability >= 8.0"


@dataclass(frozen=True)
class CalibWorkload:
    """A workload of the calibration set (traced once per precision; batch-affine features)."""

    key: str
    model: str  # gpuplan zoo name ("resnet50", "timm:resnet18", "bert-base-uncased")
    mode: Mode
    family: str  # "cnn" | "transformer"
    optimizer: str = "sgd-momentum"
    seq_len: int | None = None
    task: str | None = None  # "question-answering" for BERT SQuAD


WORKLOADS: dict[str, CalibWorkload] = {
    w.key: w
    for w in [
        CalibWorkload("resnet50-train", "resnet50", Mode.TRAIN, "cnn"),
        CalibWorkload("resnet50-infer", "resnet50", Mode.INFER, "cnn"),
        CalibWorkload("vgg16-train", "vgg16", Mode.TRAIN, "cnn"),
        CalibWorkload(
            "bert-base-squad-train",
            "bert-base-uncased",
            Mode.TRAIN,
            "transformer",
            optimizer="adamw",
            seq_len=384,
            task="question-answering",
        ),
        *[
            CalibWorkload(f"timm:{m}-{mode.value}", f"timm:{m}", mode, fam)
            for m, fam in [
                ("mobilenetv3_large_100", "cnn"),
                ("resnet18", "cnn"),
                ("efficientnet_b0", "cnn"),
                ("vit_small_patch16_224", "transformer"),
                ("resnet50", "cnn"),
                ("convnext_tiny", "cnn"),
                ("vit_base_patch16_224", "transformer"),
                ("vgg16", "cnn"),
            ]
            for mode in (Mode.TRAIN, Mode.INFER)
        ],
    ]
}


@dataclass
class CalibRow:
    line: int  # line number in perf.csv (header = 1)
    source: str
    source_group: str  # run family used for leave-one-source-out
    framework: str  # "pytorch" | "tensorflow" | "llama.cpp"
    gpu_label: str
    gpu: str | None  # catalog name
    model_label: str
    workload: str | None  # key into WORKLOADS
    family: str | None
    precision: Precision | None
    batch: int | None
    measured: float  # samples/s (images, sequences)
    excluded: str | None = None
    assumptions: list[str] = field(default_factory=list)

    @property
    def measured_step_seconds(self) -> float | None:
        return None if not self.batch else self.batch / self.measured


def _source_group(source: str) -> tuple[str, str]:
    if "XiongjieDai" in source:
        return "llama.cpp-bench", "llama.cpp"
    if "lambda-tensorflow-benchmark" in source:
        return "lambda-tf", "tensorflow"
    if "lambdal/deeplearning-benchmark" in source:
        return ("lambda-pt-v2" if "csv_v1_v2" in source else "lambda-pt-v1"), "pytorch"
    if "DeepLearningExamples" in source:
        return "nvidia-dle", "pytorch"
    if "pytorch-image-models" in source:
        if "train" in source:
            return "timm-train", "pytorch"
        return "timm-infer", "pytorch"
    return "other", "pytorch"


_TIMM = re.compile(r"^(\S+) \(timm\)$")


def _workload_for(model: str, task: str) -> str | None:
    mode = "train" if task == "train" else "infer"
    m = _TIMM.match(model)
    if m:
        return f"timm:{m.group(1)}-{mode}"
    if model.startswith("ResNet-50"):
        return f"resnet50-{mode}"
    if model.startswith("VGG16"):
        return f"vgg16-{mode}"
    if model.startswith("BERT-base SQuAD"):
        return f"bert-base-squad-{mode}"
    return None


def _precision_for(label: str, framework: str, cc_ge_80: bool, assumptions: list[str],
                   notes: str = "", model: str = "") -> Precision | None:
    p = label.strip().lower()
    # apex O2-style FP16 (model weights and activations in FP16, FP32 master weights) is closer to
    # model.half() than to autocast: no per-op casts, softmax/elementwise in FP16.
    if p == "fp16-mixed" and "apex-style FP16" in notes:
        return Precision.FP16
    if p == "fp16-amp" and "bert = FP16 config" in notes and model.startswith("BERT"):
        return Precision.FP16
    if p in ("amp", "amp-fp16", "fp16-amp", "fp16-mixed") or (p == "fp16" and framework == "tensorflow"):
        return Precision.AMP_FP16
    if p == "tf32":
        return Precision.TF32
    if p == "fp32":
        if cc_ge_80:
            if framework == "tensorflow":
                assumptions.append("TF fp32 on Ampere+: TF32 assumed on (TF >= 2.4 / NGC TF default)")
            else:
                assumptions.append(AMPERE_PLUS_TF32_GPUS_NOTE)
            return Precision.TF32
        return Precision.FP32
    return None


def default_perf_csv() -> Path:
    """The calibration data: ``shared/data/calibration/perf.csv`` (dev tree or GPUPLAN_SHARED)."""
    import os

    env = os.environ.get("GPUPLAN_SHARED")
    candidates = [Path(env) / "data/calibration/perf.csv"] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared/data/calibration/perf.csv" for p in here.parents]
    candidates.append(Path("/work/shared/data/calibration/perf.csv"))
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError("perf.csv not found; set GPUPLAN_SHARED to the shared/ folder")


def load_rows(path: Path | str | None = None, cc_of: dict[str, str | None] | None = None) -> list[CalibRow]:
    """Parse perf.csv into ``CalibRow`` records (excluded rows kept, with a reason).

    Args:
        path: perf.csv (default: :func:`default_perf_csv`).
        cc_of: catalog name -> compute capability, to decide TF32 (default: read from the catalog).
    """
    path = Path(path) if path else default_perf_csv()
    rows: list[CalibRow] = []
    with path.open(newline="", encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f), start=2):
            group, framework = _source_group(r["source"])
            label = r["gpu"].strip()
            gpu = GPU_MAP.get(label)
            assumptions: list[str] = []
            if label in GPU_ASSUMPTIONS:
                assumptions.append(GPU_ASSUMPTIONS[label])
            excluded: str | None = None
            workload = _workload_for(r["model"], r["task"])
            cc = (cc_of or {}).get(gpu or "") if cc_of is not None else None
            cc_ge_80 = False
            if cc:
                try:
                    cc_ge_80 = tuple(int(x) for x in cc.split(".")) >= (8, 0)
                except ValueError:
                    cc_ge_80 = False
            precision = _precision_for(r["precision"], framework, cc_ge_80, assumptions, r["notes"], r["model"])
            try:
                batch: int | None = int(r["batch"])
            except ValueError:
                batch = None
            if framework == "llama.cpp":
                excluded = (
                    "llama.cpp GGUF runtime (custom quantised kernels, not PyTorch): outside what the "
                    "PyTorch op model represents"
                )
            elif gpu is None:
                excluded = GPU_MISSING.get(label, f"GPU '{label}' is not mapped to the catalog")
            elif workload is None or workload.split("-")[0] == "":
                excluded = f"model '{r['model']}' has no calibration workload"
            elif precision is None:
                excluded = f"precision '{r['precision']}' not modelled"
            elif batch is None:
                excluded = f"batch not stated ('{r['batch']}')"
            wl = WORKLOADS.get(workload or "")
            if excluded is None and wl is None:
                excluded = f"workload {workload} not in the calibration set"
            rows.append(
                CalibRow(
                    line=i,
                    source=r["source"],
                    source_group=group,
                    framework=framework,
                    gpu_label=label,
                    gpu=gpu,
                    model_label=r["model"],
                    workload=workload if wl else None,
                    family=wl.family if wl else None,
                    precision=precision,
                    batch=batch,
                    measured=float(r["value"]),
                    excluded=excluded,
                    assumptions=assumptions,
                )
            )
    return rows
