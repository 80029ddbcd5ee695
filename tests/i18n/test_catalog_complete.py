"""Every user-facing message has a Chinese translation with the same placeholders, and zh.json holds
nothing else.

Message ids are found statically: the literal first argument of every ``tr(...)`` / ``msg(...)`` /
``Note.of(...)`` call and the separator of every ``msg_join(...)`` call in ``src/gpuplan`` (f-strings there are a bug: their text
is never the same twice, so no catalog can translate them). Strings that reach ``tr`` through a variable
must also appear as such a literal somewhere (usually ``msg("...")`` where the note is made).
"""

from __future__ import annotations

import ast
import json
import string
from functools import cache
from pathlib import Path

import gpuplan

SRC = Path(gpuplan.__file__).resolve().parent
CATALOGS = sorted((SRC / "i18n").glob("*.json"))
_FUNCS = {"tr", "msg", "msg_join", "_fail"}  # _fail: gpuplan.web.validate's tr() of a request error


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        if func.attr == "of" and isinstance(func.value, ast.Name) and func.value.id == "Note":
            return "msg"  # gpuplan.advise.types.Note.of(msgid, **args): the advisor's translatable sentences
        return func.attr
    return None


@cache
def scan() -> tuple[dict[str, list[str]], list[str]]:
    """({msgid: [where used]}, [f-string message ids as 'file:line'])."""
    found: dict[str, list[str]] = {}
    bad: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node.func) in _FUNCS and node.args):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.JoinedStr):
                bad.append(f"{rel}:{node.lineno}")
            elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, []).append(f"{rel}:{node.lineno}")
    for msgid in extra_msgids():
        found.setdefault(msgid, []).append("(web page)")
    return found, bad


def extra_msgids() -> list[str]:
    """Message ids that are not literal ``tr`` arguments: the web page's ``{{...}}`` template texts and
    the messages its script asks for (if the web page exists)."""
    out: list[str] = []
    try:
        from gpuplan.web import server
    except ImportError:
        return out
    out += list(getattr(server, "PAGE_JS_MESSAGES", ()))
    static = SRC / "web" / "static"
    if static.is_dir():
        import re

        for page in static.rglob("*.html"):
            out += re.findall(r"\{\{(.+?)\}\}", page.read_text(encoding="utf-8"), flags=re.S)
    return out


def fields(text: str) -> set[tuple[str, str, str]]:
    """The ``{name!conv:spec}`` fields of a format string."""
    out = set()
    for _, name, spec, conv in string.Formatter().parse(text):
        if name is not None:
            out.add((name, conv or "", spec or ""))
    return out


def test_no_f_string_message_ids() -> None:
    _, bad = scan()
    assert not bad, f"tr()/msg() with an f-string message id (use placeholders): {bad}"


def test_catalogs_exist() -> None:
    assert [p.stem for p in CATALOGS] == ["zh"]


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    found, _ = scan()
    assert len(found) > 300  # the scan sees the whole tree
    for path in CATALOGS:
        cat = json.loads(path.read_text(encoding="utf-8"))
        # a whitespace separator may translate to nothing (Chinese sentences need no space between them)
        missing = sorted(m for m in found if m not in cat or not (cat[m].strip() or not m.strip()))
        assert not missing, f"{path.name}: {len(missing)} messages without translation, e.g. " + \
            "\n".join(f"{m!r} ({found[m][0]})" for m in missing[:40])
        wrong = [(m, sorted(fields(m) ^ fields(cat[m]))) for m in found if fields(m) != fields(cat[m])]
        assert not wrong, f"{path.name}: placeholders differ: {wrong[:20]}"


def test_no_stale_catalog_entries() -> None:
    found, _ = scan()
    for path in CATALOGS:
        cat = json.loads(path.read_text(encoding="utf-8"))
        stale = sorted(set(cat) - set(found))
        assert not stale, f"{path.name}: entries no code uses (delete them): {stale[:40]}"


def test_catalog_values_are_strings() -> None:
    for path in CATALOGS:
        cat = json.loads(path.read_text(encoding="utf-8"))
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in cat.items())
