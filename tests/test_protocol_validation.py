"""Protocol validation: every broken file is named with the line and what is wrong; good files still load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from drivers.sim.scenes import named_views
from protocols.validation import (
    LIBRARY_DIR,
    ProtocolFileError,
    check_protocols,
    load_library,
    load_protocol,
    parse_protocol,
)

BROKEN = Path(__file__).parent / "data" / "protocols_broken"
VIEWS = named_views()  # the simulator's catalogue, as main.py hands it to validation

# file -> (line, text the message must contain). Lines are those of the fixture files.
EXPECTED = {
    "bad_plane.yaml": (13, "plane 'diagonal' is not one of: long_axis, short_axis"),
    "bad_quadrant.yaml": (9, "quadrant 'front' lists unknown step 'zz'"),
    # a step with an error of its own is not also reported as unknown to its quadrant
    "broken_step_in_quadrant.yaml": (24, "opens on unknown finding 'baker_cyst'"),
    "bad_side.yaml": (5, "side 'both' is not one of: left, right, bilateral, ask"),
    "bad_yaml.yaml": (22, "not valid YAML: expected ',' or ']'"),
    "duplicate_key.yaml": (21, "key 'title' appears twice (first at line 10)"),
    "duplicate_step.yaml": (21, "duplicate step id 'a' (first at line 9)"),
    "empty.yaml": (1, "file is empty"),
    "focus_too_deep.yaml": (17, "focus_mm (45) is deeper than depth_mm (30)"),
    "missing_key.yaml": (9, "missing required key 'probe'"),
    "missing_preset.yaml": (9, "takes captures, so it needs a preset"),
    "structures_not_list.yaml": (14, "structures must be a list, not text"),
    "unknown_follow_up.yaml": (22, "opens on unknown finding 'baker_cyst' (findings: effusion, normal)"),
    "unknown_key.yaml": (21, "unknown key 'structurs'; did you mean 'structures'?"),
    "unknown_practice_key.yaml": (24, "practice: unknown key 'veiw'; did you mean 'view'?"),
    "unknown_scene.yaml": (22, "practice scene 'brain' is not one of"),
    "unknown_view.yaml": (
        24,
        "practice view 'suprapatellar long axes' is not a view of scene 'knee' (suprapatellar long axis, "
        "patellar tendon long axis, suprapatellar short axis, MCL coronal, iliotibial band, "
        "pes anserinus long axis, pes anserinus short axis, medial retinaculum and MPFL short axis, "
        "lateral retinaculum short axis); "
        "did you mean 'suprapatellar long axis'?",
    ),
    "unquoted_comma.yaml": (19, "put text with commas in quotes"),
    "wrong_type.yaml": (3, "version must be a whole number, not text"),
}


def test_every_broken_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_error_names_file_line_and_problem(name: str) -> None:
    line, text = EXPECTED[name]
    path = BROKEN / name
    with pytest.raises(ProtocolFileError) as info:
        load_protocol(path, views=VIEWS)
    errors = info.value.errors
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert error.path == str(path)
    assert error.line == line
    assert text in error.message
    assert str(error).startswith(f"{path}:{line}: ")


def test_load_library_keeps_good_files_and_lists_broken(tmp_path: Path) -> None:
    shutil.copy(LIBRARY_DIR / "knee.yaml", tmp_path / "knee.yaml")
    shutil.copy(BROKEN / "bad_plane.yaml", tmp_path / "bad_plane.yaml")
    shutil.copy(BROKEN / "empty.yaml", tmp_path / "empty.yaml")
    protocols, errors = load_library([tmp_path])
    assert [p.id for p in protocols] == ["knee"]
    assert sorted(Path(e.path).name for e in errors) == ["bad_plane.yaml", "empty.yaml"]


def test_duplicate_protocol_id_across_files_is_an_error(tmp_path: Path) -> None:
    shutil.copy(LIBRARY_DIR / "knee.yaml", tmp_path / "a.yaml")
    shutil.copy(LIBRARY_DIR / "knee.yaml", tmp_path / "b.yaml")
    protocols, errors = load_library([tmp_path])
    assert len(protocols) == 1
    assert len(errors) == 1 and "protocol id 'knee' is already used by" in errors[0].message
    assert errors[0].path.endswith("b.yaml")


def test_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    protocols, errors = load_library([tmp_path / "nope.yaml"])
    assert protocols == []
    assert "cannot read file" in errors[0].message


def test_all_problems_in_a_file_are_listed_in_line_order() -> None:
    text = (BROKEN / "unknown_key.yaml").read_text().replace("plane: long_axis\n", "plane: sideways\n", 1)
    text = text.replace("version: 1", "version: 0")
    protocol, errors = parse_protocol(text, "x.yaml")
    assert protocol is None
    assert [e.line for e in errors] == [3, 13, 21]
    assert "version must be at least 1, got 0" in errors[0].message


def test_repeated_capture_requirement_must_use_count() -> None:
    text = (BROKEN / "missing_key.yaml").read_text()
    text = text.replace("  - id: a\n    title: A\n", "  - id: a\n    title: A\n    probe: sagittal\n")
    text = text.replace(
        "      - {kind: still, plane: long_axis}\n",
        "      - {kind: still, plane: long_axis}\n      - {kind: still, plane: long_axis, note: again}\n",
    )
    protocol, errors = parse_protocol(text, "x.yaml")
    assert protocol is None
    assert [(e.line, "repeats item 1" in e.message) for e in errors] == [(17, True)]


def test_practice_view_takes_its_pose_from_the_simulators_views() -> None:
    text = (BROKEN / "unknown_practice_key.yaml").read_text().replace("veiw:", "view:")
    protocol, errors = parse_protocol(text, "x.yaml", views=VIEWS)
    assert errors == [] and protocol is not None
    target = protocol.step("a").practice
    assert target is not None
    assert target.view == "suprapatellar long axis"
    assert target.pose == {"position_mm": -25.0, "lateral_mm": 0.0, "rotation_deg": 0.0, "tilt_deg": 0.0}


def test_without_the_simulators_views_a_target_is_a_name_with_no_pose() -> None:
    text = (BROKEN / "unknown_scene.yaml").read_text()
    protocol, errors = parse_protocol(text, "x.yaml")  # the scene 'brain' cannot be checked
    assert errors == [] and protocol is not None
    target = protocol.step("a").practice
    assert target is not None
    assert (target.scene, target.view, target.pose) == ("brain", "suprapatellar long axis", {})


def test_practice_view_is_required_and_must_be_text() -> None:
    text = (BROKEN / "unknown_practice_key.yaml").read_text()
    _, errors = parse_protocol(
        text.replace("      veiw: suprapatellar long axis\n", ""), "x.yaml", views=VIEWS
    )
    assert [(e.line, e.message) for e in errors] == [(22, "step 'a' practice: missing required key 'view'")]
    _, errors = parse_protocol(text.replace("veiw: suprapatellar long axis", "view: [a, b]"), "x.yaml")
    assert [(e.line, e.message) for e in errors] == [(24, "step 'a' practice view must be text, not a list")]


def test_a_pose_in_a_protocol_file_is_refused() -> None:
    text = (BROKEN / "unknown_practice_key.yaml").read_text().replace("veiw:", "view:")
    text = text.replace(
        "      tolerance:",
        "      pose: {position_mm: -25, lateral_mm: 0, rotation_deg: 0, tilt_deg: 0}\n      tolerance:",
    )
    _, errors = parse_protocol(text, "x.yaml", views=VIEWS)
    assert [(e.line, "unknown key 'pose'" in e.message) for e in errors] == [(25, True)]


def _with_needle(needle: str) -> str:
    text = (BROKEN / "unknown_practice_key.yaml").read_text().replace("veiw:", "view:")
    return text.replace(
        "      tolerance: {position_mm: 5, lateral_mm: 5, rotation_deg: 5, tilt_deg: 5}\n",
        "      tolerance: {position_mm: 5, lateral_mm: 5, rotation_deg: 5, tilt_deg: 5}\n"
        f"      needle: {needle}\n",
    )


def test_a_needle_practice_target_names_where_the_tip_goes() -> None:
    protocol, errors = parse_protocol(
        _with_needle("{tip_in: suprapatellar recess, injectate: true}"), "x.yaml", views=VIEWS
    )
    assert errors == [] and protocol is not None
    target = protocol.step("a").practice
    assert target is not None and target.needle is not None
    assert (target.needle.tip_in, target.needle.tip_beside, target.needle.injectate) == (
        "suprapatellar recess",
        "",
        True,
    )
    protocol, errors = parse_protocol(_with_needle("{tip_beside: median nerve}"), "x.yaml", views=VIEWS)
    assert errors == [] and protocol is not None
    beside = protocol.step("a").practice
    assert beside is not None and beside.needle is not None
    assert (beside.needle.structure, beside.needle.injectate) == ("median nerve", False)


@pytest.mark.parametrize(
    ("needle", "message"),
    [
        ("{injectate: true}", "needs exactly one of tip_in (the structure the tip enters) or tip_beside"),
        ("{tip_in: a, tip_beside: b}", "needs exactly one of tip_in"),
        ("{tip_inn: a}", "unknown key 'tip_inn'; did you mean 'tip_in'?"),
        ("{tip_in: a, injectate: 2}", "needle injectate must be true or false"),
        ("yes", "needle must be a mapping"),
    ],
)
def test_a_broken_needle_requirement_is_named_with_its_line(needle: str, message: str) -> None:
    protocol, errors = parse_protocol(_with_needle(needle), "x.yaml", views=VIEWS)
    assert protocol is None
    assert [(e.line, message in e.message) for e in errors] == [(26, True)], errors


def test_check_protocols_prints_ok_for_the_shipped_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_protocols([], VIEWS) == 0  # no paths: the shipped library
    out = capsys.readouterr().out
    assert "OK    " in out and "knee v2" in out and ", 0 error(s)" in out


def test_check_protocols_fails_and_prints_each_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = check_protocols([str(BROKEN / "bad_side.yaml"), str(LIBRARY_DIR / "knee.yaml")], VIEWS)
    assert status == 1
    captured = capsys.readouterr()
    assert f"ERROR {BROKEN / 'bad_side.yaml'}:5: side 'both'" in captured.err
    assert "1 protocol(s) valid, 1 error(s)" in captured.out
