"""The fairban command as a person runs it: a real process, its exit status and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fairban import __version__


def fairban(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fairban.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_version() -> None:
    done = fairban("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"fairban {__version__}"


@pytest.mark.parametrize("command", [[], ["validate"], ["simulate"], ["target"], ["preview"]])
def test_every_command_has_help(command: list[str]) -> None:
    done = fairban(*command, "--help")
    assert done.returncode == 0
    assert "Usage" in done.stdout
    assert "--help" in done.stdout


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "world"
    done = fairban("simulate", "--accounts", "600", "--seed", "3", "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert "World written to" in done.stdout
    assert "P6-classmate-C" in done.stdout
    return out


def test_simulate_then_validate(small_world: Path) -> None:
    done = fairban(
        "validate", str(small_world / "directive.yaml"), "--data", str(small_world / "evidence")
    )
    assert done.returncode == 0, done.stderr
    for word in ("Laukkai", "Tachileik", "observations", "interactions", "gps", "valid"):
        assert word in done.stdout


def test_bad_evidence_is_one_line_without_traceback(small_world: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "accounts.csv").write_text("account_id,platform\nqq:1,qq\n")
    (data / "observations.csv").write_text(
        "account_id,ts,lat,lon,accuracy_m,source\nqq:1,2019-09-28T21:14:00+08:00,123.4,98.7,20,gps\n"
    )
    (data / "interactions.csv").write_text("src,dst,ts,kind\n")
    done = fairban("validate", str(small_world / "directive.yaml"), "--data", str(data))
    assert done.returncode == 2
    assert done.stderr.strip() == "observations.csv row 2: lat 123.4 is outside [-90, 90]"
    assert "Traceback" not in done.stderr


def test_bad_directive_names_the_key(small_world: Path, tmp_path: Path) -> None:
    text = (small_world / "directive.yaml").read_text() + "colour: red\n"
    bad = tmp_path / "directive.yaml"
    bad.write_text(text)
    (tmp_path / "areas.geojson").write_text((small_world / "areas.geojson").read_text())
    done = fairban("validate", str(bad), "--data", str(small_world / "evidence"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("directive.yaml key 'colour': unknown key")


def test_simulate_refuses_a_folder_in_use_and_debug_shows_the_traceback(
    small_world: Path,
) -> None:
    done = fairban("simulate", "--accounts", "200", "--out", str(small_world))
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"{small_world}: already exists and is not empty (use --force to replace it)"
    ]
    debug = fairban("--debug", "simulate", "--accounts", "200", "--out", str(small_world))
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr


def test_usage_errors_are_short() -> None:
    done = fairban("simulate", "--accounts", "abc", "--out", "x")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "accounts" in done.stderr


def test_target_writes_the_contract_columns(small_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "decisions"
    done = fairban(
        "target",
        str(small_world / "directive.yaml"),
        "--data",
        str(small_world / "evidence"),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "suspend" in done.stdout
    header = (out / "decisions.csv").read_text().splitlines()[0]
    assert header == '"account_id","platform","person_id","measure","risk","reasons"'
    assert (out / "decisions.parquet").exists()
    assert sorted(p.name for p in out.iterdir()) == ["decisions.csv", "decisions.parquet"]


def test_target_refuses_a_country_sized_area_unless_forced(
    small_world: Path, tmp_path: Path
) -> None:
    import json

    directive = tmp_path / "directive.yaml"
    directive.write_text((small_world / "directive.yaml").read_text())
    huge = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "All of Myanmar and more"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[92, 10], [102, 10], [102, 29], [92, 29], [92, 10]]],
                },
            }
        ],
    }
    (tmp_path / "areas.geojson").write_text(json.dumps(huge))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("untouched")
    args = ["target", str(directive), "--data", str(small_world / "evidence"), "--out", str(out)]
    done = fairban(*args)
    assert done.returncode == 2
    assert "more than a whole country" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert fairban(*args, "--force").returncode == 0


def test_target_on_bad_evidence_leaves_out_untouched(small_world: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "accounts.csv").write_text("account_id,platform\nqq:1,QQ\n")
    (data / "observations.csv").write_text("account_id,ts,lat,lon,accuracy_m,source\n")
    (data / "interactions.csv").write_text("src,dst,ts,kind\n")
    out = tmp_path / "out"
    done = fairban(
        "target", str(small_world / "directive.yaml"), "--data", str(data), "--out", str(out)
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("accounts.csv row 2: platform 'QQ'")
    assert not out.exists()


@pytest.mark.parametrize(
    ("given", "line"),
    [
        (
            "{measures: {mule: ban}}",
            "directive.yaml key 'thresholds.measures.mule': input should be 'monitor', "
            "'restrict' or 'suspend'",
        ),
        (
            "{measures: {smuggler: restrict}}",
            "directive.yaml key 'thresholds.measures': unknown kind of harm 'smuggler' (known: ",
        ),
        (
            "{restrict: 0.95, suspend: 0.9}",
            "directive.yaml key 'thresholds': tiers must increase: monitor 0.05 < restrict 0.95 "
            "< suspend 0.9",
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "target"])
def test_bad_measures_are_one_line_and_nothing_written(
    small_world: Path, tmp_path: Path, given: str, line: str, command: str
) -> None:
    bad = tmp_path / "directive.yaml"
    bad.write_text((small_world / "directive.yaml").read_text() + f"thresholds: {given}\n")
    (tmp_path / "areas.geojson").write_text((small_world / "areas.geojson").read_text())
    out = tmp_path / "out"
    args = ["--out", str(out)] if command == "target" else []
    done = fairban(command, str(bad), "--data", str(small_world / "evidence"), *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(line), lines
    assert not out.exists()


def test_preview_writes_a_report_and_finds_the_truth(small_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = fairban(
        "preview",
        str(small_world / "directive.yaml"),
        "--data",
        str(small_world / "evidence"),
        "--out",
        str(out),
        "-q",
    )
    assert done.returncode == 0, done.stderr
    assert "the 2019 presence rule would hit" in done.stdout
    assert "against truth" in done.stdout  # truth.csv beside the evidence was found
    html = (out / "index.html").read_text()
    assert "cn-mps-2019-10-14-mm-north" in html
    assert (out / "quality_by_role.csv").exists()
