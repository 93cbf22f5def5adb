"""A model draft's problems at their lines: paths into nested mappings and lists, missing keys
at their nearest parent, YAML syntax errors at the parser's place, the path's id rule."""

from __future__ import annotations

import pytest
from leadscore.domain.model_lines import (
    MAX_CHARACTERS,
    MAX_VALUES,
    DraftTextError,
    located,
    read_yaml,
    where,
)
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


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("id: x\nname: 2001-13-45\n", 7, "'2001-13-45' cannot be read as a YAML timestamp: month"),
        ("id: x\nname: " + "1" * 5000 + "\n", 7, "as a YAML int: Exceeds the limit (4300 digits)"),
        ("id: x\nname: 0x" + "f" * 300 + "\n", 7, "int: beyond the largest number a float holds"),
        ("id: x\nname: !!bool maybe\n", 7, "'maybe' cannot be read as a YAML bool; quote it"),
        ("id: x\nname: !!timestamp x\n", 7, "'x' cannot be read as a YAML timestamp; quote it"),
        ("id: x\nfit: [1, !!float one]\n", 10, "'one' cannot be read as a YAML float: could not"),
    ],
)
def test_a_scalar_yaml_cannot_build_is_one_problem_at_its_place(
    text: str, column: int, words: str
) -> None:
    with pytest.raises(DraftTextError) as raised:
        read_yaml(text)
    problem = raised.value.problem()
    assert words in problem["message"] and problem["message"].startswith("not valid YAML: ")
    assert "set_int_max_str_digits" not in problem["message"]
    assert (problem["line"], problem["column"]) == (2, column)


def test_an_integer_a_float_holds_and_a_quoted_date_are_read() -> None:
    big = "9" * 300  # 1e300: a float holds it
    assert read_yaml(f"a: {big}\nb: '2001-13-45'\n").document == {"a": int(big), "b": "2001-13-45"}


def test_aliases_that_stand_for_too_much_text_are_refused() -> None:
    def text(uses: int) -> str:  # 100,000 characters, and as many again each time it is used
        return "a: &a " + "x" * 100_000 + "\nb: [" + ", ".join(["*a"] * uses) + "]\n"

    assert len(read_yaml(text(8)).document["b"]) == 8  # 900,000 characters (and the keys)
    with pytest.raises(DraftTextError, match=f"more than {MAX_CHARACTERS:,} characters"):
        read_yaml(text(10))


def test_every_one_of_many_problems_is_placed_at_its_own_line() -> None:
    keys = 5_000  # each unknown key's problem found by its mapping's index, built once
    text = "name: many\n" + "".join(f"k{n}: 1\n" for n in range(keys)) + "k7: 2\n"
    draft = read_yaml(text)
    placed = located([{"path": f"k{n}", "message": "unknown"} for n in range(keys)], draft)
    assert [p["line"] for p in placed[:3]] == [2, 3, 4]
    assert placed[-1]["line"] == keys + 1
    assert placed[7]["line"] == keys + 2  # the last of a repeated key: the one the document keeps
    assert draft.where("k7.deeper") == (keys + 2, 1)


def test_past_the_most_problems_listed_one_says_how_many_more() -> None:
    keys = model_drafts.MAX_PROBLEMS + 50
    text = (ROOT / "models" / "default.yaml").read_text()
    text += "".join(f"unknown{n}: 1\n" for n in range(keys))
    checked = model_drafts.check(model_drafts.read(text), "default")
    assert checked.found == keys and len(checked.problems) == model_drafts.MAX_PROBLEMS + 1
    assert checked.problems[-2]["path"] == f"unknown{model_drafts.MAX_PROBLEMS - 1}"
    assert checked.problems[-1] == {
        "path": "",
        "message": f"and 50 more problems (the first {model_drafts.MAX_PROBLEMS} are listed)",
        "line": None,
        "column": None,
    }
