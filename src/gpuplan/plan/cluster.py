"""The machines a plan runs on: how many GPUs of which kind, and the links between them.

    >>> c = cluster_for("8xA100-80G", nodes=2)                   # doctest: +SKIP
    >>> c.world_size, c.intra.name, c.inter.name, c.bus_gbs      # doctest: +SKIP
    (16, 'NVLink 3 (A100)', 'InfiniBand HDR 4x', 25.0)

Link figures live in ``data/interconnects.csv`` (each with its source and the derivation of the
per-direction rate); which GPU has which NVLink and PCIe generation in ``data/gpu_links.csv``.
A GPU or architecture missing there has no figure: the link is N/A and so is communication time.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from gpuplan.catalog import get_gpu
from gpuplan.catalog.types import GPU
from gpuplan.errors import UsageError
from gpuplan.i18n import msg

_DATA = Path(__file__).parent / "data"
MAX_GPUS_PER_NODE = 16  # the largest single-node systems (DGX-2, HGX-2) hold 16 GPUs
MAX_NODES = 4096
INTRA_CHOICES = ("nvlink", "pcie")
INTER_CHOICES = ("ib", "ib-edr", "ib-hdr", "ib-ndr", "ethernet", "eth-100g", "eth-200g", "eth-400g")


@dataclass(frozen=True)
class Link:
    """One kind of link, with the rate a ring collective gets from it: bytes each way per GPU."""

    id: str
    kind: str  # "nvlink" | "pcie" | "ib" | "ethernet" | "host"
    name: str
    per_direction_gbs: float
    published: str  # the figure as the source states it, e.g. "600 GB/s bidirectional total"
    source: str
    derivation: str


@cache
def links() -> dict[str, Link]:
    with (_DATA / "interconnects.csv").open(encoding="utf-8") as f:
        return {r["id"]: Link(r["id"], r["kind"], r["name"], float(r["per_direction_gbs"]),
                              f"{r['published_figure']} {r['published_unit']}", r["source"], r["derivation"])
                for r in csv.DictReader(f)}


@dataclass(frozen=True)
class GpuLinks:
    nvlink: str | None
    nvlink_domain_gpus: int | None
    pcie: str | None
    inter_node: str | None
    sources: tuple[str, ...]


@cache
def _gpu_link_rows() -> tuple[dict[str, str], ...]:
    with (_DATA / "gpu_links.csv").open(encoding="utf-8") as f:
        return tuple(csv.DictReader(f))


def gpu_links(gpu: GPU) -> GpuLinks:
    """NVLink (by GPU name) and PCIe generation / default inter-node fabric (by architecture)."""
    nvlink = domain = pcie = inter = None
    sources: list[str] = []
    for row in _gpu_link_rows():
        kind, _, key = row["match"].partition(":")
        if kind == "gpu" and key == gpu.name:
            nvlink, domain = row["nvlink"] or None, int(row["nvlink_domain_gpus"]) if row["nvlink_domain_gpus"] else None
            sources.append(row["source"])
        elif kind == "arch" and gpu.vendor == "NVIDIA" and gpu.architecture.split(" ")[0] == key.split(" ")[0]:
            pcie, inter = row["pcie"] or None, row["inter_node"] or None
            sources.append(row["source"])
    return GpuLinks(nvlink, domain, pcie, inter, tuple(sources))


@dataclass(frozen=True)
class Cluster:
    """``gpus_per_node`` GPUs of one kind in each of ``nodes`` machines, all data-parallel."""

    gpu: GPU
    gpus_per_node: int
    nodes: int
    intra: Link | None  # the link inside a node that carries the collectives (None: no figure)
    inter: Link | None  # the link between nodes (None with one node, or no figure)
    host_memory: Link  # host DRAM bandwidth (CPU optimizer of offloading strategies)
    pcie: Link | None  # GPU <-> host link (offload transfers)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def world_size(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def bus_gbs(self) -> float | None:
        """Per-GPU, per-direction bandwidth of the slowest link a ring crosses (GB/s), or None."""
        if self.world_size == 1:
            return None
        rates = []
        if self.gpus_per_node > 1:
            if self.intra is None:
                return None
            rates.append(self.intra.per_direction_gbs)
        if self.nodes > 1:
            if self.inter is None:
                return None
            # assumed: one NIC per GPU (as in DGX A100/H100), so each GPU has a full NIC to itself
            rates.append(self.inter.per_direction_gbs)
        return min(rates)


_GPUS_RE = re.compile(r"^\s*(-?\d+)\s*[x×*]\s*(.+?)\s*$", re.IGNORECASE)


def parse_gpus(text: str) -> tuple[int, str]:
    """``"8xA100-80G"`` -> (8, "A100-80G"); ``'2x"GTX 1080 Ti"'`` -> (2, "GTX 1080 Ti")."""
    m = _GPUS_RE.match(text or "")
    if not m:
        raise UsageError(msg("--gpus {text}: expected COUNTxGPU, e.g. 8xA100-80G, '4xRTX 3090' or 2x\"GTX 1080 Ti\".",
                             text=repr(text)))
    count, name = int(m.group(1)), m.group(2).strip().strip("\"'")
    if not 1 <= count <= MAX_GPUS_PER_NODE:
        raise UsageError(msg("--gpus {text}: the GPU count per node must be 1 to {max} (got {count}); use --nodes N "
                             "for more machines.", text=repr(text), max=MAX_GPUS_PER_NODE, count=count))
    if not name:
        raise UsageError(msg("--gpus {text}: no GPU name after the count.", text=repr(text)))
    return count, name


def _resolve_inter(choice: str, default: str | None) -> Link:
    key = {"ib": default or "ib-hdr", "ethernet": "eth-100g"}.get(choice, choice)
    return links()[key]


def cluster_for(gpus: str | tuple[int, GPU], *, nodes: int = 1, interconnect: str | None = None) -> Cluster:
    """Build a :class:`Cluster` from ``--gpus``/``--nodes``/``--interconnect`` values.

    ``interconnect`` is one or two comma-separated names: an intra-node link (``nvlink`` or ``pcie``)
    and/or an inter-node fabric (``ib``, ``ib-edr``, ``ib-hdr``, ``ib-ndr``, ``ethernet``,
    ``eth-100g``/``200g``/``400g``). Defaults: NVLink when the GPU has it in our data, else PCIe of
    its generation; between nodes InfiniBand of the GPU's DGX generation (HDR before Hopper, NDR from
    Hopper on), one NIC per GPU. Nonsense raises :class:`UsageError` naming what is allowed.
    """
    if isinstance(gpus, str):
        count, name = parse_gpus(gpus)
        gpu = get_gpu(name)
    else:
        count, gpu = gpus
        if not 1 <= count <= MAX_GPUS_PER_NODE:
            raise UsageError(msg("GPUs per node must be 1 to {max} (got {count}).", max=MAX_GPUS_PER_NODE,
                                 count=count))
    if not isinstance(nodes, int) or isinstance(nodes, bool) or not 1 <= nodes <= MAX_NODES:
        raise UsageError(msg("--nodes {nodes}: must be an integer from 1 to {max}.", nodes=nodes, max=MAX_NODES))
    gl = gpu_links(gpu)
    all_choices = INTRA_CHOICES + INTER_CHOICES
    parts = [p.strip().lower() for p in (interconnect or "").split(",") if p.strip()]
    for p in parts:
        if p not in all_choices:
            raise UsageError(msg("--interconnect {name} is not a link we know; allowed: {allowed} (one intra-node "
                                 "and/or one inter-node name, comma-separated).", name=repr(p),
                                 allowed=", ".join(all_choices)))
    intra_req = [p for p in parts if p in INTRA_CHOICES]
    inter_req = [p for p in parts if p in INTER_CHOICES]
    if len(intra_req) > 1 or len(inter_req) > 1:
        raise UsageError(msg("--interconnect {value}: give at most one intra-node link ({intra}) and one inter-node "
                             "link.", value=repr(interconnect), intra=", ".join(INTRA_CHOICES)))
    if inter_req and nodes == 1:
        raise UsageError(msg("--interconnect {name} links machines, but --nodes is 1; use --nodes 2 or more, or an "
                             "intra-node link: {intra}.", name=inter_req[0], intra=", ".join(INTRA_CHOICES)))
    if intra_req and count == 1:
        raise UsageError(msg("--interconnect {name} links GPUs inside a machine, but there is 1 GPU per node; give "
                             "more GPUs per node (e.g. --gpus 8x...) or an inter-node link (ib, ethernet) with "
                             "--nodes.", name=intra_req[0]))
    notes: list[str] = []
    pcie = links()[gl.pcie] if gl.pcie else None
    intra: Link | None = None
    want = intra_req[0] if intra_req else ("nvlink" if gl.nvlink else "pcie")
    if want == "nvlink":
        if not gl.nvlink:
            raise UsageError(msg("{gpu} has no NVLink in gpuplan's data; allowed for this GPU: pcie.", gpu=gpu.name),
                             hint=msg("NVLink figures come from the vendors' datasheets (see docs/plan.md)."))
        intra = links()[gl.nvlink]
        if gl.nvlink_domain_gpus is not None and count > gl.nvlink_domain_gpus:
            notes.append(msg("NVLink joins at most {n} {gpu} GPUs; with {count} per node the ring also crosses PCIe, "
                             "which sets its rate", n=gl.nvlink_domain_gpus, gpu=gpu.name, count=count))
            intra = pcie
    else:
        intra = pcie
    if count > 1 and intra is None:
        notes.append(msg("no PCIe figure for {gpu} ({vendor} {arch}) in our data: communication time is N/A",
                         gpu=gpu.name, vendor=gpu.vendor, arch=gpu.architecture))
    inter: Link | None = None
    if nodes > 1:
        inter = _resolve_inter(inter_req[0] if inter_req else "ib", gl.inter_node)
        if not inter_req:
            notes.append(msg("between nodes: {link} assumed (the fabric of the DGX generation of this GPU; set "
                             "--interconnect ib-hdr|ib-ndr|eth-100g...)", link=inter.name))
    if count > 1 and not intra_req and gl.nvlink and intra is not None and intra.kind == "nvlink":
        notes.append(msg("inside a node: {link} (the GPU has NVLink in our data; --interconnect pcie if yours are "
                         "not linked)", link=intra.name))
    return Cluster(gpu=gpu, gpus_per_node=count, nodes=nodes, intra=intra if count > 1 else None, inter=inter,
                   host_memory=links()["host-ddr4-3200-8ch"], pcie=pcie, notes=tuple(notes))
