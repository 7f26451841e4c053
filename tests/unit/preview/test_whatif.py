"""What-if: a preview under other thresholds re-scores the features the first preview
kept, gives what a fresh run with those thresholds gives, and reads no evidence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from fairban.world import WorldConfig, simulate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("whatif") / "world"
    simulate_world(WorldConfig(accounts=600, seed=5, days=30), root)
    return root


def fairban(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAIRBAN_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fairban.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=300,
    )


def preview(home: Path, *args: str) -> str:
    done = fairban(home, "preview", *args, "--force", "-q")
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def unreadable(folder: Path) -> Iterator[None]:
    """Every Parquet file of ``folder`` overwritten with zeros of its own size and given
    back its modification time (its fingerprint stays; reading it fails), then restored."""
    saved = {}
    for path in folder.rglob("*.parquet"):
        stat = path.stat()
        saved[path] = (path.read_bytes(), stat.st_atime_ns, stat.st_mtime_ns)
        path.write_bytes(bytes(stat.st_size))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    try:
        yield
    finally:
        for path, (data, atime, mtime) in saved.items():
            path.write_bytes(data)
            os.utime(path, ns=(atime, mtime))


@pytest.mark.slow
def test_other_thresholds_are_scored_from_the_kept_features(world: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    directive, evidence = str(world / "directive.yaml"), str(world / "evidence")
    first = preview(home, directive, "--data", evidence, "--out", str(tmp_path / "first"))
    assert "Re-scored" not in first
    tried = tmp_path / "thresholds.yaml"
    tried.write_text("restrict: 0.3\nsuspend: 0.97\n", encoding="utf-8")
    with unreadable(world / "evidence"):
        out = str(tmp_path / "tried")
        again = preview(
            home, directive, "--data", evidence, "--out", out, "--thresholds", str(tried)
        )
    assert "Re-scored in" in again
    assert "the evidence was not read again" in again
    assert "counted when the preview was made (not read again)" in again
    assert "observations read in" in first
    assert "observations read in" not in again
    # the same thresholds written into the directive, on a new home: a whole run
    doc = yaml.safe_load((world / "directive.yaml").read_text(encoding="utf-8"))
    doc["thresholds"] = {"restrict": 0.3, "suspend": 0.97}
    (tmp_path / "d").mkdir()
    shutil.copy(world / "areas.geojson", tmp_path / "d" / "areas.geojson")
    (tmp_path / "d" / "directive.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    fresh_directive = str(tmp_path / "d" / "directive.yaml")
    out = str(tmp_path / "fresh")
    fresh = preview(tmp_path / "fresh-home", fresh_directive, "--data", evidence, "--out", out)
    assert "Re-scored" not in fresh
    for name in ("by_measure.csv", "by_platform.csv", "naive_hits.csv"):
        tried_csv = (tmp_path / "tried" / name).read_text(encoding="utf-8")
        assert tried_csv == (tmp_path / "fresh" / name).read_text(encoding="utf-8"), name
    first_counts = (tmp_path / "first" / "by_measure.csv").read_text(encoding="utf-8")
    assert (tmp_path / "tried" / "by_measure.csv").read_text(encoding="utf-8") != first_counts


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("restrict: 0.97\n", "key 'thresholds': tiers must increase"),
        ("bogus: 1\n", "bad.yaml key 'bogus': unknown key"),
        ("restrict: high\n", "bad.yaml key 'restrict': input should be a valid number"),
    ],
)
def test_bad_thresholds_are_one_line(world: Path, tmp_path: Path, text: str, error: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    done = fairban(
        tmp_path / "home",
        "preview",
        str(world / "directive.yaml"),
        "--data",
        str(world / "evidence"),
        "--out",
        str(tmp_path / "r"),
        "--thresholds",
        str(bad),
    )
    assert done.returncode == 2
    assert error in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_judgement_kept_by_an_older_fairban_is_refused_in_one_line(
    world: Path, tmp_path: Path
) -> None:
    """Phone mates that do not stay came with ``device_pairs.stays``: tables kept before
    it cannot be re-scored alike, and say so (the preview's cache keys on the version,
    so it judges again)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fairban.contract import load_directive
    from fairban.errors import InputError
    from fairban.targeting.engine import SCORED_TABLES, rescore

    old = {
        "features": {"account_id": ["a"], "home_gb": [""]},
        "device_pairs": {"account_id": ["a"], "peer": ["b"], "confirmed": [0]},
    }
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in SCORED_TABLES:
        pq.write_table(pa.table(old.get(name, {"account_id": ["a"]})), kept / f"{name}.parquet")
    with pytest.raises(InputError, match=r"older fairban \(no column stays\): judge again"):
        rescore(load_directive(world / "directive.yaml"), kept)
