"""`gpuplan fit`: the JSON contract, several GPUs, and bad input (exit 2, stderr, no traceback)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from gpuplan.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract_single_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", "lenet5", "--gpu", "gtx 760", "--batch", "64", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["gpu"]["name"] == "GeForce GTX 760"
    assert obj["fits"] is True and obj["batch"] == 64
    mem = obj["memory"]
    for key in ("peak_allocated_bytes", "peak_reserved_bytes", "device_total_bytes", "capacity_bytes"):
        assert isinstance(mem[key], int) and mem[key] > 0
    assert mem["peak_reserved_bytes"] >= mem["peak_allocated_bytes"]
    assert mem["device_total_bytes"] == mem["peak_reserved_bytes"] + mem["breakdown"]["cuda_context"]
    assert mem["breakdown"]["parameters"] >= 61706 * 4  # LeNet-5: 61,706 fp32 parameters


def test_json_auto_batch_and_list_for_several_gpus(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", "cifar_cnn", "--gpu", "gtx 760,rtx 3060 12gb", "--batch", "auto", "--json")
    assert code == 0
    objs = json.loads(out)
    assert [o["gpu"]["name"] for o in objs] == ["GeForce GTX 760", "GeForce RTX 3060 12GB"]
    small, big = (o["max_batch_size"] for o in objs)
    assert 0 < small < big  # 2 GB card (with a bigger context) takes a smaller batch than a 12 GB one
    for o in objs:
        assert o["memory"]["device_total_bytes"] <= o["memory"]["capacity_bytes"]


def test_text_output_has_verdict_and_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", "lenet5", "--gpu", "gtx 760", "--batch", "64")
    assert code == 0
    assert "FITS" in out and "CUDA context" in out and "optimizer state" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["fit", "lenet5", "--gpu", "gtx 760", "--batch", "0"], "--batch"),
        (["fit", "lenet5", "--gpu", "gtx 760", "--batch", "abc"], "--batch"),
        (["fit", "lenet5", "--gpu", "gtx 7600000"], "Unknown GPU"),
        (["fit", "resnet5000", "--gpu", "gtx 760"], "Unknown model"),
        (["fit", "lenet5", "--gpu", "gtx 760", "--input", "3xq"], "--input"),
        (["fit", "mlp", "--gpu", "gtx 760", "--precision", "int4"], "--lora-rank"),
        (["fit", "lenet5", "--gpu", "gtx 760", "--grad-accum", "0"], "--grad-accum"),
        (["fit", "lenet5", "--gpu", "gtx 760", "--mode", "infer", "--keep-zeroed-grads"], "--keep-zeroed-grads"),
    ],
)
def test_bad_input_is_a_clear_error(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err and out == ""


def test_gpu_spec_for_a_card_not_in_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", "lenet5", "--gpu-spec", "name=My Card,memory_gib=4,bandwidth_gbs=100,"
                       "fp32_tflops=5", "--batch", "32", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["gpu"]["name"] == "My Card" and obj["gpu"]["memory_bytes"] == 4 * 2**30


def test_gpu_and_gpu_spec_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fit", "lenet5")
    assert code == 2 and "--gpu-spec" in err


@pytest.mark.parametrize(("argv", "name"), [
    (["lenet5", "--gpu", "GTX 760", "--batch", "64", "--dataset-size", "60000"], "lenet5_gtx760_b64"),
    (["cifar_cnn", "--gpu", "GTX 760,RTX 3060 12GB,T4", "--batch", "64"], "cifar_cnn_three_gpus"),
    (["lstm", "--gpu", "GTX 760", "--batch", "auto"], "lstm_gtx760_auto"),
])
def test_text_golden(capsys: pytest.CaptureFixture[str], golden: Callable[[str, str], None], argv: list[str],
                     name: str) -> None:
    assert main(["fit", *argv, "--no-color"]) == 0
    golden(f"fit/{name}", capsys.readouterr().out)


def test_keep_zeroed_grads_puts_gradients_in_the_peak(capsys: pytest.CaptureFixture[str]) -> None:
    """--keep-zeroed-grads (zero_grad(set_to_none=False)): gradients are allocated at the peak early in
    backward; by default (set_to_none=True) they are not there yet."""
    argv = ["fit", "cifar_cnn", "--gpu", "gtx 760", "--batch", "256", "--json"]
    _, out, _ = run(capsys, *argv)
    _, kept_out, _ = run(capsys, *argv, "--keep-zeroed-grads")
    default, kept = json.loads(out)["memory"], json.loads(kept_out)["memory"]
    assert json.loads(out)["zero_grad_set_to_none"] is True and json.loads(kept_out)["zero_grad_set_to_none"] is False
    assert kept["breakdown"].get("gradients", 0) > default["breakdown"].get("gradients", 0)
    assert kept["peak_allocated_bytes"] > default["peak_allocated_bytes"]
