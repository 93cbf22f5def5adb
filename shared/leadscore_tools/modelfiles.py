"""Read scoring models from YAML or JSON files (CLI, tests); YAML stays out of Lambda."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.model import ModelError, ScoringModel, parse_model


def load_model(path: str | Path) -> ScoringModel:
    """Parse and validate a model file; ModelError lists every problem with its path."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the file"
        raise ModelError([{"path": "", "message": f"not valid YAML at {where}"}]) from None
    return parse_model(document)


@lru_cache(maxsize=32)
def load_compiled(path: str) -> CompiledModel:
    return compile_model(load_model(path))
