"""User-facing text in the user's language: ``tr("English text {x}", x=...)``.

The English text is the message id. Translations live in ``<lang>.json`` beside this module
(``{"English text {x}": "中文 {x}"}``); a message without a translation falls back to English.
The language comes from ``--lang`` (set by the CLI through :func:`set_language`), else the
``GPUPLAN_LANG`` environment variable, else English. Units stay SI/IEC in every language.

Only rendering code (CLI text, report, web page) calls ``tr``; computation returns data, never prose
that needs translating — except short reasons/notes, which are translated when rendered. Computation
builds those with :func:`msg`: a :class:`Msg` *is* the English string (JSON, comparisons and logs stay
English) and remembers its message id and arguments, so ``tr(note)`` translates it later. Lists of
notes joined into one string use :func:`msg_join`.

Every literal message id passed to ``tr``/``msg`` (and every ``msg_join`` separator) needs an entry in
each catalog with the same ``{placeholders}``: tests/i18n/test_catalog_complete.py checks this, and that
no catalog keeps stale entries. Message ids must be literals (never f-strings) so that test can see them.
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


class Msg(str):
    """English text that can still be translated: the formatted English string plus its message id and
    arguments (arguments may be Msg themselves; they are translated too)."""

    msgid: str
    kwargs: dict[str, Any]

    def __new__(cls, msgid: str, /, **kwargs: Any) -> Msg:
        self = super().__new__(cls, msgid.format(**kwargs) if kwargs else msgid)
        self.msgid = msgid
        self.kwargs = kwargs
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # pickling and deepcopy keep the message id
        return (_rebuild_msg, (self.msgid, self.kwargs))


class Joined(Msg):
    """Several messages joined with a separator that is itself a message id ("; " is "；" in Chinese)."""

    items: tuple[str, ...]

    def __new__(cls, sep: str, items: tuple[str, ...]) -> Joined:  # type: ignore[override]
        self = str.__new__(cls, sep.join(items))
        self.msgid = sep
        self.kwargs = {}
        self.items = items
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Joined, (self.msgid, self.items))


def _rebuild_msg(msgid: str, kwargs: dict[str, Any]) -> Msg:
    return Msg(msgid, **kwargs)


def msg(msgid: str, /, **kwargs: Any) -> Msg:
    """The English text of ``msgid`` formatted with ``kwargs``, translatable later with ``tr``."""
    return Msg(msgid, **kwargs)


def msg_join(sep: str, items: Any) -> str:
    """``sep.join(items)`` that ``tr`` translates item by item (``sep`` is a message id too)."""
    items = tuple(items)
    if len(items) == 1:
        return items[0]  # type: ignore[no-any-return]
    return Joined(sep, items)


def tr(msgid: str, /, lang: str | None = None, **kwargs: Any) -> str:
    """Translate ``msgid`` into the current language and format it with ``kwargs``.

    ``msgid`` may be a :class:`Msg` (from :func:`msg`/:func:`msg_join`): it is translated with its own
    arguments. A plain string without a catalog entry stays as it is.
    """
    lang = lang or current_language()
    if isinstance(msgid, Msg) and not kwargs:
        if lang == "en":
            return str.__str__(msgid)
        if isinstance(msgid, Joined):
            return tr(msgid.msgid, lang=lang).join(tr(i, lang=lang) for i in msgid.items)
        msgid, kwargs = msgid.msgid, msgid.kwargs
    if lang != "en" and kwargs:
        kwargs = {k: tr(v, lang=lang) if isinstance(v, Msg) else v for k, v in kwargs.items()}
    text = catalog(lang).get(msgid, msgid)
    return text.format(**kwargs) if kwargs else str.__str__(text)
