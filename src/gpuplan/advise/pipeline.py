"""Can the machine feed the GPU? Input-pipeline check for a training plan.

The GPU consumes ``samples_per_second`` (predicted for the plan). The host must decode that many
samples per second (CPU cores × per-core decode rate), hold or stream the dataset (RAM, disk read rate).

Per-core decode rates are not in any sourced table of gpuplan, so the rate is either given by the user
(``--decode-rate``, samples/s per core) or measured on this machine by :func:`measure_decode_rate`
(labelled "measured here": PIL decoding and resizing a synthetic JPEG on one core). Unknown stays None.

    >>> host = HostSpec(cpu_cores=8, ram_bytes=32 * 2**30, disk_bytes_per_second=None, source="given")
    >>> chk = check_pipeline(900.0, host, DecodeRate(150.0, "given"), dataset_size=1_281_167,
    ...                      sample_bytes=110_000)
    >>> chk.cores_needed, chk.cpu_ok, chk.fits_in_ram
    (6, True, False)
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field

from gpuplan.advise.types import Note

# The training process keeps one core busy issuing kernels; DataLoader workers get the rest.
MAIN_PROCESS_CORES = 1


@dataclass(frozen=True)
class HostSpec:
    """The machine that feeds the GPU. ``None`` = unknown."""

    cpu_cores: int | None
    ram_bytes: int | None
    disk_bytes_per_second: float | None
    source: str  # "given" | "local" | "local + given"


@dataclass(frozen=True)
class DecodeRate:
    samples_per_second_per_core: float
    source: str  # "given" | "measured here: ..."


@dataclass
class PipelineCheck:
    """Whether the host keeps up with the plan's predicted throughput. ``None`` = not known."""

    needed_samples_per_second: float | None
    host: HostSpec
    decode_rate: DecodeRate | None
    workers: int | None  # DataLoader workers available (cores less the training process)
    cores_needed: int | None
    decode_samples_per_second: float | None  # workers × per-core rate
    cpu_ok: bool | None
    dataset_bytes: int | None
    fits_in_ram: bool | None
    disk_bytes_per_second_needed: float | None  # when the dataset is read from disk every epoch
    disk_ok: bool | None
    notes: list[Note] = field(default_factory=list)


def host_from(local: object | None = None, *, cpus: int | None = None, ram_gib: float | None = None,
              disk_mbps: float | None = None) -> HostSpec:
    """A HostSpec from user flags, completed by the local machine (``gpuplan.system.host.HostInfo``) when given."""
    used_local = False
    cores = cpus
    ram = int(ram_gib * 2**30) if ram_gib is not None else None
    if local is not None:
        if cores is None:
            cores = getattr(local, "cpu_cores_logical", None)
            used_local = used_local or cores is not None
        if ram is None:
            ram = getattr(local, "ram_total_bytes", None)
            used_local = used_local or ram is not None
    given = cpus is not None or ram_gib is not None or disk_mbps is not None
    source = "local + given" if used_local and given else "local" if used_local else "given"
    return HostSpec(cores, ram, disk_mbps * 1e6 if disk_mbps is not None else None, source)


def check_pipeline(needed: float | None, host: HostSpec, rate: DecodeRate | None, *, dataset_size: int | None = None,
                   sample_bytes: int | None = None) -> PipelineCheck:
    """Compare what the GPU consumes (``needed`` samples/s) with what the host can decode and read."""
    notes: list[Note] = []
    workers = None if host.cpu_cores is None else max(1, host.cpu_cores - MAIN_PROCESS_CORES)
    cores_needed = decode = None
    cpu_ok: bool | None = None
    if needed is not None and rate is not None and rate.samples_per_second_per_core > 0:
        cores_needed = math.ceil(needed / rate.samples_per_second_per_core)
        if workers is not None:
            decode = workers * rate.samples_per_second_per_core
            cpu_ok = cores_needed <= workers
            if not cpu_ok:
                notes.append(Note.of("the CPU decodes {have:,.0f} samples/s with {w} worker(s) but the GPU takes "
                                     "{need:,.0f}: the GPU will wait for data (pre-decode or cache the dataset, use "
                                     "GPU decoding such as DALI or torchvision.io.decode_jpeg on the GPU, or fewer "
                                     "augmentations)", have=decode, w=workers, need=needed))
    elif rate is None:
        notes.append(Note.of("decode rate unknown: give --decode-rate (samples/s per core, measured with your "
                             "dataset and augmentations)"))
    dataset_bytes = dataset_size * sample_bytes if dataset_size is not None and sample_bytes is not None else None
    fits_ram: bool | None = None
    disk_need = None
    disk_ok: bool | None = None
    if dataset_bytes is not None and host.ram_bytes is not None:
        fits_ram = dataset_bytes <= host.ram_bytes
    if needed is not None and sample_bytes is not None and fits_ram is not True:
        # not cached in RAM (or unknown): every epoch reads the dataset from disk
        disk_need = needed * sample_bytes
        if host.disk_bytes_per_second is not None:
            disk_ok = disk_need <= host.disk_bytes_per_second
            if not disk_ok:
                notes.append(Note.of("the disk reads {have:.0f} MB/s but the GPU needs {need:.0f} MB/s of samples: "
                                     "I/O-bound (faster storage, or a dataset that fits in RAM)",
                                     have=host.disk_bytes_per_second / 1e6, need=disk_need / 1e6))
        else:
            notes.append(Note.of("disk read rate unknown: give --disk-mbps"))
    elif fits_ram is True:
        notes.append(Note.of("the dataset fits in RAM: after the first epoch the page cache serves it (if the "
                             "training process leaves room)"))
    if sample_bytes is None:
        notes.append(Note.of("sample size unknown: give --sample-bytes (stored bytes per sample) and "
                             "--dataset-size for the RAM and disk checks"))
    return PipelineCheck(needed, host, rate, workers, cores_needed, decode, cpu_ok, dataset_bytes, fits_ram,
                         disk_need, disk_ok, notes)


def image_input_size(shapes: list[tuple[int, ...]]) -> tuple[int, int] | None:
    """(height, width) of the first image-like input (C×H×W with C in 1..4 and H, W ≥ 64), else None."""
    for s in shapes:
        if len(s) == 3 and 1 <= s[0] <= 4 and s[1] >= 64 and s[2] >= 64:
            return s[1], s[2]
    return None


SOURCE_IMAGE = (500, 375)  # the synthetic JPEG decoded by the local benchmark (width, height)


def measure_decode_rate(out_size: tuple[int, int], *, seconds: float = 0.5, quality: int = 90) -> DecodeRate | None:
    """Samples/s one core of this machine decodes: PIL opens a synthetic 500×375 JPEG (a smooth gradient
    with noise, encoded once), converts it to RGB and resizes it to ``out_size`` (H, W). Real datasets,
    image sizes and augmentations differ: the result is labelled "measured here". None without Pillow."""
    try:
        import numpy as np
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with torchvision
        return None
    w, h = SOURCE_IMAGE
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) * 255 // (w + h))], axis=-1)
    noise = rng.integers(-24, 24, size=base.shape)
    pixels = np.clip(base + noise, 0, 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="JPEG", quality=quality)
    data = buf.getvalue()
    oh, ow = out_size
    n = 0
    t0 = time.perf_counter()
    while True:
        img = Image.open(io.BytesIO(data)).convert("RGB").resize((ow, oh), Image.BILINEAR)
        np.asarray(img)
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and n >= 5:
            break
    return DecodeRate(n / dt, f"measured here: PIL decode + resize of a synthetic {w}×{h} JPEG "
                              f"({len(data) // 1024} KiB) to {oh}×{ow}, one core")
