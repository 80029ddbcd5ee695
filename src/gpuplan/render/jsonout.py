"""JSON rendering of typed results: dataclasses, enums and tuples become plain JSON values."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Convert a result object (dataclasses, enums, tuples, dicts) into JSON-ready values.

    NaN and infinities become ``None`` (JSON has no N/A).
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_json = getattr(obj, "to_json", None)
        if callable(to_json):
            return to_jsonable(to_json())
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False)
