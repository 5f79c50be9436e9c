"""melib.deviations: every paper's deviations as data, rendered once for the model docstrings and the book."""
import importlib
import re
from pathlib import Path

import pytest
import yaml

from melib import deviations
from melib.errors import ConfigError, DataError

BOOK = Path(__file__).resolve().parents[1] / "book"
MODULES = {"DLHN": "melib.models.dlhn", "PSN": "melib.models.psn", "C3D": "melib.models.c3d",
           "CropNet": "melib.models.cropnet", "LocalRegions": "melib.models.local_regions",
           "STSTNet": "melib.models.ststnet", "OFF-ApexNet": "melib.models.off_apexnet"}
# issue #12's ten differences: (paper, item number)
ISSUE12 = {1: "PSN", 2: "C3D", 3: "DLHN", 4: "CropNet", 5: "PSN", 6: "C3D", 7: "LocalRegions", 8: "PSN",
           9: "DLHN", 10: "PSN"}


@pytest.mark.parametrize("paper", MODULES)
def test_every_paper_has_a_complete_table(paper):
    t = deviations.table(paper)
    assert len(t) >= 8 and list(t.columns) == [*deviations.FIELDS, "issue12"]
    for f in deviations.REQUIRED:
        assert t[f].map(lambda v: bool(str(v or "").strip())).all(), f"{paper}: empty {f}"
    assert set(t["status"]) <= set(deviations.STATUSES) and t["id"].is_unique
    assert set(t["topic"]) <= set(deviations.TOPICS)
    assert not t["measured_effect"].str.contains("pending").any(), f"{paper}: a measured effect still pending"


def test_the_ten_items_of_issue_12_are_decided_and_measured():
    found = {}
    for paper in MODULES:
        for d in deviations.load(paper):
            if d.get("issue12"):
                assert d["issue12"] not in found, f"issue item {d['issue12']} listed twice"
                found[d["issue12"]] = (paper, d)
    assert {k: v[0] for k, v in found.items()} == ISSUE12
    for n, (_, d) in found.items():
        assert d["status"] in ("fixed", "kept"), f"item {n}: {d['status']}"
        effect = d["measured_effect"]
        assert effect.startswith("not measured: ") or (re.search(r"\d\.\d{2}", effect) and "melib.deviations.measure"
                                                       in effect), f"item {n}: {effect!r}"


def test_model_docstrings_render_their_entries():
    for paper, module in MODULES.items():
        doc = importlib.import_module(module).__doc__
        mine = [d for d in deviations.load(paper) if d["where"].startswith(module)]
        assert mine, f"{module}: no deviation names it"
        assert all(f"- {d['id']} [{d['status']}]" in doc for d in mine), module


def test_book_pages_include_the_generated_tables_and_they_are_current(tmp_path):
    written = deviations.write_book(tmp_path)
    for path in written:
        key = path.stem
        page = (BOOK / "deviations" / f"{key}.md").read_text(encoding="utf-8")
        assert f"```{{include}} generated/{key}.md" in page
        assert "## Choices made in melib" not in page          # the list lives in the data, not by hand
        committed = BOOK / "deviations" / "generated" / f"{key}.md"
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), \
            f"{committed} is stale: run python -c 'import melib.deviations as d; d.write_book()'"
        for d in deviations.load(deviations.PAPERS[key]):
            assert f"**{d['id']}**" in path.read_text(encoding="utf-8")
    assert deviations.write_book(tmp_path) == written           # unchanged files are left alone


def test_bad_data_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown paper"):
        deviations.table("AlexNet")
    good = yaml.safe_load((deviations.HERE / "psn.yaml").read_text(encoding="utf-8"))
    bad = dict(good, deviations=[dict(good["deviations"][0], status="maybe")])
    (tmp_path / "psn.yaml").write_text(yaml.safe_dump(bad))
    monkeypatch.setattr(deviations, "HERE", tmp_path)
    deviations._read.cache_clear()
    try:
        with pytest.raises(DataError, match="status"):
            deviations.load("PSN")
        del bad["deviations"][0]["why"]
        (tmp_path / "psn.yaml").write_text(yaml.safe_dump(bad))
        deviations._read.cache_clear()
        with pytest.raises(DataError, match="why"):
            deviations.load("PSN")
    finally:
        deviations._read.cache_clear()


def test_the_measuring_command_runs_through_the_ledger(home, tmp_path, capsys):
    """``python -m melib.deviations.measure`` on its cheapest deviation (C3D Model-A's known-answer run, one
    epoch, a small set) writes one ledger record per amplitude and prints it."""
    import json

    from melib import ledger
    from melib.deviations import measure

    small = {"subjects": 3, "clips_per_subject": 7, "width": 256, "height": 192, "frames": [12, 16]}
    argv = ["c3d_model_a", "--amplitudes", "3", "--config", "epochs=1", "--synth", json.dumps(small)]
    recs = measure.main(argv, root=tmp_path, allow_dirty=True)
    (rec,) = recs
    assert rec["params"]["method"] == "c3d_model_a" and rec["params"]["config"] == {"epochs": 1}
    assert rec["params"]["synth"] == small and rec["params"]["amplitude"] == 3.0
    r = rec["result"]
    assert 0 <= r["null_low"] <= r["null_high"] <= 1 and 0 <= r["uar"] <= 1 and r["n_clips"] > 30
    assert (r["top_share"] == 1) == (r["collapsed"] is not None)
    assert rec["command"] == ("python -m melib.ledger run deviation_effect --param amplitude=3.0 --param "
                              "'config={\"epochs\": 1}' --param 'inputs={}' --param method=c3d_model_a --param "
                              "'model={}' --param paper_trainer=false --param seed=0 --param 'synth="
                              + json.dumps(small, sort_keys=True) + "'")
    assert ledger.records("deviation_effect", tmp_path) == recs
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["uar"] == r["uar"] and printed["record"].split(" ")[0].rstrip(":") in ("current", "dirty")
    with pytest.raises(ConfigError, match="KEY=VALUE"):  # refused before anything runs
        measure.main(["c3d_model_a", "--model", "bad"], root=tmp_path, allow_dirty=True)


def test_the_book_prints_commands_as_code_and_no_internal_jargon():
    assert deviations.commands_as_code("`python -m m psn` [--model tp_unit=1] [--config seed=1]; (--model x=1)") \
        == "`python -m m psn [--model tp_unit=1] [--config seed=1]`; (`--model x=1`)"
    for paper in MODULES:
        text = deviations.markdown(paper)
        prose = re.sub(r"`[^`]*`", "", text)
        assert not re.search(r"(?<![-|])--\w", prose), f"{paper}: a flag outside code"
        assert "issue #12" not in text and "Before:" not in text, paper
        # one two-column table per entry: prose wraps in the text column
        assert all(line.count(" | ") == 1 for line in text.splitlines() if line.startswith("| ")), paper
    fixed = [d for d in deviations.load("PSN") if "Before:" in d["melib_does"]]
    assert fixed and all("| melib before this fix |" in deviations.markdown("PSN") for _ in fixed)
