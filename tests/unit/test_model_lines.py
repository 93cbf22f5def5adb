"""A model draft's problems at their lines: paths into nested mappings and lists, missing keys
at their nearest parent, YAML syntax errors at the parser's place, the path's id rule."""

from __future__ import annotations

import pytest
from leadscore.domain.model_lines import MAX_VALUES, DraftTextError, read_yaml, where
from leadscore.services import model_drafts

from tests.conftest import ROOT

TEXT = """\
# a comment first
id: draft
name: A draft
fit:
  categories:
    - name: role
      weight: 100
      field: job_title
      criteria:
        - {name: executive, words: [ceo, vp], points: 100}
        - name: manager
          words: [manager]
          points: 60
levels:
  1: 60
"""


def test_a_path_is_found_through_mappings_and_lists() -> None:
    root = read_yaml(TEXT).root
    assert where(root, "fit.categories[0].weight") == (7, 7)  # the key's place
    assert where(root, "fit.categories[0].criteria[1].points") == (13, 11)
    assert where(root, "fit.categories[0].criteria[0].points") == (10, 47)  # a flow mapping
    assert where(root, "fit.categories[0].criteria[0].words[1]") == (10, 42)
    assert where(root, "fit.categories[0]") == (6, 7)  # a list item: the item's place
    assert where(root, "levels[1]") == (15, 3)  # a number in the path is also a key


def test_a_missing_key_is_placed_at_its_nearest_parent() -> None:
    root = read_yaml(TEXT).root
    assert where(root, "fit.categories[0].criteria[1].min") == (11, 11)  # the item
    assert where(root, "fit.categories[3].name") == (5, 3)  # no 4th category: `categories:`
    assert where(root, "engagement") == (2, 1)  # the document's start (comments skipped)
    assert where(root, "") == (2, 1)
    # a part pydantic adds (a union's tag) is stepped over
    assert where(root, "fit.categories[0].tagged.field") == (8, 7)


def test_every_problem_of_a_draft_has_its_line() -> None:
    text = (ROOT / "models" / "default.yaml").read_text()
    broken = text.replace("weight: 30\n", "weight: thirty\n", 1).replace(
        "  grades: {A: 75, B: 50, C: 25}\n", "  grades: {A: 75, B: 50, C: 25}\n  colour: red\n", 1
    )
    lines = broken.splitlines()
    checked = model_drafts.check(model_drafts.read(broken), "default")
    assert checked.model is None
    by_path = {p["path"]: p for p in checked.problems}
    weight = by_path["fit.categories[0].weight"]
    assert lines[weight["line"] - 1].strip() == "weight: thirty"
    assert weight["column"] == lines[weight["line"] - 1].index("weight") + 1
    assert lines[by_path["fit.colour"]["line"] - 1] == "  colour: red"


def test_a_valid_draft_has_no_problems_and_takes_the_paths_id() -> None:
    text = (ROOT / "models" / "default.yaml").read_text().replace("id: default\n", "", 1)
    checked = model_drafts.check(model_drafts.read(text), "default")
    assert checked.problems == [] and checked.model is not None
    assert checked.model.id == "default"


def test_a_draft_with_another_id_has_a_problem_at_its_id() -> None:
    text = (ROOT / "models" / "default.yaml").read_text()
    checked = model_drafts.check(model_drafts.read(text), "other")
    assert checked.model is None
    assert checked.problems == [
        {
            "path": "id",
            "message": "must be the id in the path ('other'), or left out",
            "line": 2,
            "column": 1,
        }
    ]


def test_a_draft_already_read_has_its_problems_without_lines() -> None:
    checked = model_drafts.check(model_drafts.read({"name": "x"}), "m")
    assert {(p["path"], p["line"], p["column"]) for p in checked.problems} == {
        ("fit", None, None),
        ("engagement", None, None),
    }


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("id: x\nfit: [1, 2\nname: y\n", 3, 5),  # an unclosed flow list
        ("id: x\n  name: y\n", 2, 7),  # a mapping value where none can be
        ("id: x\nid2: 'open\n", 3, 1),  # an unclosed quote: the end of the text
        ("a: !!python/object:os.system ls\n", 1, 4),  # no tag but YAML's own
    ],
)
def test_a_syntax_error_is_one_problem_at_the_parsers_place(
    text: str, line: int, column: int
) -> None:
    with pytest.raises(DraftTextError) as raised:
        read_yaml(text)
    problem = raised.value.problem()
    assert problem["path"] == "" and problem["message"].startswith("not valid YAML: ")
    assert (problem["line"], problem["column"]) == (line, column)


@pytest.mark.parametrize("text", ["\x1f", "id: x\nname: \x07\n", "\ufffe"])
def test_a_character_yaml_refuses_is_one_problem_not_a_fault(text: str) -> None:
    with pytest.raises(DraftTextError) as raised:
        read_yaml(text)
    assert raised.value.problem()["message"].startswith("not valid YAML: ")


def test_aliases_that_stand_for_too_many_values_are_refused() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 6)]
    with pytest.raises(DraftTextError, match=f"more than {MAX_VALUES:,} values"):
        read_yaml("\n".join(levels))
    assert read_yaml("a: &a [1, 2]\nb: *a\n").document == {"a": [1, 2], "b": [1, 2]}


def test_an_empty_text_is_a_draft_that_is_no_mapping() -> None:
    checked = model_drafts.check(model_drafts.read(""), "m")
    assert checked.problems == [
        {
            "path": "",
            "message": "a model must be a mapping (YAML or JSON)",
            "line": None,
            "column": None,
        }
    ]
