"""render.labels: one name per engine key, translated; unknown keys stay readable."""

from __future__ import annotations

from gpuplan.i18n import set_language
from gpuplan.render.labels import bound_phrase, category_label, op_class_label, phase_label


def test_names_in_english_and_chinese() -> None:
    assert category_label("allocator_overhead") == "allocator cache"
    assert category_label("kv_cache") == "KV cache"
    assert bound_phrase("overhead") == "overhead-bound"
    set_language("zh")
    try:
        assert category_label("optimizer_state") != "optimizer state"
        assert phase_label("backward") != "backward"
    finally:
        set_language(None)


def test_unknown_keys_fall_back_readably() -> None:
    assert category_label("some_new_thing") == "some new thing"
    assert op_class_label("fft") == "fft"
    assert bound_phrase(None).endswith("-bound")
