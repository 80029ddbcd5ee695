import pytest

from gpuplan.i18n import current_language, normalize, set_language, tr


def test_normalize_accepts_locale_spellings() -> None:
    assert normalize("zh_CN.UTF-8") == "zh"
    assert normalize("zh-Hans") == "zh"
    assert normalize("EN") == "en"


def test_unknown_language_names_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="allowed: en, zh"):
        normalize("fr")


def test_env_then_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUPLAN_LANG", "zh_CN")
    set_language(None)
    assert current_language() == "zh"
    set_language("en")
    assert current_language() == "en"
    set_language(None)


def test_untranslated_falls_back_to_english_and_formats() -> None:
    assert tr("no such message {n}", lang="zh", n=3) == "no such message 3"


def test_cli_rejects_unknown_lang(capsys: pytest.CaptureFixture[str]) -> None:
    from gpuplan.cli.main import main

    assert main(["gpus", "--lang", "fr"]) == 2
    assert "allowed: en, zh" in capsys.readouterr().err
