"""User-facing text in the user's language: ``tr("English text {x}", x=...)``.

The English text is the message id. Translations live in ``<lang>.json`` beside this module
(``{"English text {x}": "中文 {x}"}``); a message without a translation falls back to English.
The language comes from ``--lang`` (set by the CLI through :func:`set_language`), else the
``GPUPLAN_LANG`` environment variable, else English. Units stay SI/IEC in every language.

Only rendering code (CLI text, report, web page) calls ``tr``; computation returns data, never prose
that needs translating — except short reasons/notes, which are translated when rendered.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from typing import Any

SUPPORTED = ("en", "zh")
_ALIASES = {"en": "en", "en_us": "en", "en-us": "en", "zh": "zh", "zh_cn": "zh", "zh-cn": "zh", "zh-hans": "zh",
            "cn": "zh", "chinese": "zh", "english": "en"}
_current: str | None = None


def normalize(lang: str) -> str:
    """'zh-CN', 'zh_CN.UTF-8', 'zh' -> 'zh'; unknown -> ValueError naming what is allowed."""
    key = lang.strip().lower().split(".")[0]
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown language {lang!r}; allowed: {', '.join(SUPPORTED)} (zh = Simplified Chinese)")


def set_language(lang: str | None) -> None:
    """Set the language for this process (None: back to GPUPLAN_LANG / English)."""
    global _current
    _current = None if lang is None else normalize(lang)


def current_language() -> str:
    if _current is not None:
        return _current
    env = os.environ.get("GPUPLAN_LANG")
    if env:
        try:
            return normalize(env)
        except ValueError:
            return "en"
    return "en"


@cache
def catalog(lang: str) -> dict[str, str]:
    """The message catalog of ``lang`` (empty for English)."""
    if lang == "en":
        return {}
    path = resources.files(__package__).joinpath(f"{lang}.json")
    if not path.is_file():
        return {}
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def tr(msgid: str, /, lang: str | None = None, **kwargs: Any) -> str:
    """Translate ``msgid`` into the current language and format it with ``kwargs``."""
    text = catalog(lang or current_language()).get(msgid, msgid)
    return text.format(**kwargs) if kwargs else text
