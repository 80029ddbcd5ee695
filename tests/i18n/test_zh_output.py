"""`--lang zh` and GPUPLAN_LANG=zh: golden Chinese text, the same JSON as in English, errors in Chinese."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from gpuplan.catalog.lookup import get_gpu
from gpuplan.cli.main import main
from gpuplan.i18n import set_language
from gpuplan.render.doctor_text import render_doctor_text, wrap
from gpuplan.system.doctor import collect_doctor
from gpuplan.system.fake_nvml import FakeDevice, FakeNvml
from gpuplan.system.host import HostInfo
from gpuplan.system.torchinfo import TorchBuild

GiB, MiB = 2**30, 2**20
Golden = Callable[[str, str], None]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_lenet5_gtx760_golden(capsys: pytest.CaptureFixture[str], golden: Golden) -> None:
    code, out, _ = run(capsys, "fit", "lenet5", "--gpu", "GTX 760", "--lang", "zh")
    assert code == 0
    assert "放得下" in out and "优化器状态" in out and "CUDA 上下文" in out
    assert "1 GiB = 2^30 字节" in out  # the units line, once
    assert out.count("2^30") == 1
    golden("i18n/fit_lenet5_gtx760_zh", out)


def test_gpu_gtx760_golden(capsys: pytest.CaptureFixture[str], golden: Golden) -> None:
    code, out, _ = run(capsys, "gpu", "GTX 760", "--no-local-torch", "--lang", "zh")
    assert code == 0
    assert "结论" in out and "计算能力 3.0" in out and "sm_30" in out
    golden("i18n/gpu_gtx760_zh", out)


def test_gpus_list_golden_aligns_wide_headers(capsys: pytest.CaptureFixture[str], golden: Golden) -> None:
    code, out, _ = run(capsys, "gpus", "--arch", "kepler", "--sort", "fp32_tflops", "--desc", "--limit", "4",
                       "--lang", "zh")
    assert code == 0
    golden("i18n/gpus_kepler_zh", out)


def test_env_var_selects_chinese_and_lang_overrides_it(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, flag, _ = run(capsys, "gpu", "GTX 760", "--no-local-torch", "--lang", "zh")
    monkeypatch.setenv("GPUPLAN_LANG", "zh_CN.UTF-8")
    _, env, _ = run(capsys, "gpu", "GTX 760", "--no-local-torch")
    assert env == flag
    _, en, _ = run(capsys, "gpu", "GTX 760", "--no-local-torch", "--lang", "en")
    assert "Verdict" in en and "结论" not in en


@pytest.mark.parametrize("argv", [
    ["gpu", "GTX 760", "--no-local-torch", "--json"],
    ["gpus", "--arch", "kepler", "--json"],
    ["fit", "lenet5", "--gpu", "GTX 760", "--batch", "8", "--json"],
])
def test_json_is_the_same_in_every_language(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    _, en, _ = run(capsys, *argv)
    _, zh, _ = run(capsys, *argv, "--lang", "zh")
    en_obj, zh_obj = json.loads(en), json.loads(zh)
    for obj in (en_obj, zh_obj):
        if isinstance(obj, dict):
            obj.pop("trace_seconds", None)  # wall-clock time of the trace
    assert zh_obj == en_obj
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in zh)  # no Chinese character in the JSON


def test_errors_are_translated_and_keep_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "gpu", "gtx 7600", "--lang", "zh")
    assert code == 2 and out == ""
    assert "未知 GPU 'gtx 7600'" in err and "GeForce GTX 760" in err and "Traceback" not in err
    code, _, err = run(capsys, "fit", "lenet5", "--gpu", "GTX 760", "--batch", "0", "--lang", "zh")
    assert code == 2 and "--batch 0：必须是正整数" in err
    code, _, err = run(capsys, "fit", "resnet5000", "--gpu", "GTX 760", "--lang", "zh")
    assert code == 2 and "未知模型 'resnet5000'" in err


def test_doctor_golden(golden: Golden) -> None:
    host = HostInfo(system="Linux", os="Linux-6.8.0", machine="x86_64", python="3.11.7", cpu_model="AMD EPYC 7B13",
                    cpu_cores_physical=8, cpu_cores_logical=16, ram_total_bytes=64 * GiB,
                    ram_available_bytes=48 * GiB, disk_path="/data", disk_total_bytes=1000 * GiB,
                    disk_free_bytes=250 * GiB)
    tb = TorchBuild(installed=True, version="2.14.1+cu130", cuda="13.0", cudnn="9.24.0",
                    arch_list=("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"))
    lib = FakeNvml(driver="580.95.05", cuda=13000, devices=[
        FakeDevice("NVIDIA GeForce GTX 760", (3, 0), 2 * GiB, 118 * MiB),
        FakeDevice("NVIDIA GeForce RTX 3060 12GB", (8, 6), 12 * GiB, 1536 * MiB)])
    report = collect_doctor(nvml_lib=lib, torch_build=tb, host=host, catalog_lookup=get_gpu)
    set_language("zh")
    text = render_doctor_text(report)
    assert "检查结果" in text and "错误" in text and "修复：" in text
    golden("i18n/doctor_two_gpus_zh", text)
    set_language("en")
    assert "Findings" in render_doctor_text(report)  # the report itself stays English


def test_wrap_breaks_chinese_by_cells_and_keeps_english_as_textwrap() -> None:
    text = "安装架构列表包含 sm_30 的 PyTorch 构建（其他版本或其他 +cuXY 变体），或设置 TORCH_CUDA_ARCH_LIST 从源码编译。" * 3
    lines = wrap(text, 40, "  错误   ", "         ")
    from rich.cells import cell_len

    assert all(cell_len(line) <= 42 for line in lines) and len(lines) > 3  # closing punctuation may hang
    assert not any(line.lstrip().startswith(("，", "。", "）")) for line in lines)
    assert "".join(line.strip() for line in lines).replace(" ", "") == ("错误" + text).replace(" ", "")
    english = "the quick brown fox jumps over the lazy dog " * 5
    import textwrap

    assert wrap(english, 30, "  ", "    ") == textwrap.wrap(english, 30, initial_indent="  ", subsequent_indent="    ")


def test_help_in_chinese(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--help", "--lang", "zh"])
    out = capsys.readouterr().out
    assert out.startswith("用法: gpuplan fit") and "预测一个训练或推理步的峰值显存" in out and "梯度累积步数" in out
    monkeypatch.setenv("GPUPLAN_LANG", "zh")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "列出 GPU 目录" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["gpus", "--help", "--lang=en"])
    assert "List the GPU catalog" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "zh", "en"), [
    (["fit", "lenet5", "--mode", "bogus"], "参数 --mode：无效的选项值：'bogus'", "argument --mode: invalid choice: 'bogus'"),
    (["fit"], "缺少必需的参数：model", "the following arguments are required: model"),
    (["fit", "lenet5", "--grad-accum", "x"], "无效的 int 值：'x'", "invalid int value: 'x'"),
])
def test_argparse_usage_errors_are_translated(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                              argv: list[str], zh: str, en: str) -> None:
    """argparse's own messages go through the catalog: Chinese with --lang zh, English otherwise; exit 2."""
    for lang, needle in (("zh", zh), ("en", en)):
        monkeypatch.setenv("GPUPLAN_LANG", lang)
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2
        assert needle in err, err
        assert ("错误" in err) == (lang == "zh")
    set_language("en")
