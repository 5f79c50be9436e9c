"""Notebook parameters mean what they say: each model chapter re-run with papermill (smoke profile) under a
label scheme and a protocol that are not its own shows them in its executed outputs and keeps headline rows
that carry them; a parameter a chapter cannot honour stops the notebook with a ConfigError that says so.

The plans are cut down with the ``plan`` parameter (fewer variants, scenarios or settings) so that each run
takes seconds on the smoke set.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest

from melib import params, records, report
from melib.experiments import chapter

ROOT = Path(__file__).resolve().parents[1]

# notebook -> (parameters, the chapter's tables whose rows it keeps: (table, metric) of its headline)
CASES = {
    "10_dlhn": ({"scheme": "megc2019", "protocol": "group_kfold", "plan": {"folds": 2}}, {("Table 6", "accuracy")}),
    "11_psn": ({"scheme": "megc2019", "protocol": "loso",
                "plan": {"ablations": [], "table9": [], "retention": []}}, {("Table 5", "accuracy"), ("Table 5", "uf1")}),
    # C3D 8.1's unstratified random splits of the smoke set's CASME II would train without a megc2019 class
    "12_c3d": ({"scheme": "megc2019", "protocol": "loso", "plan": {"scenarios": [3, 4], "holdout": [], "table3": []}},
               {("Table 4", "accuracy")}),
    "13_cropnet": ({"scheme": "megc2019", "protocol": "group_kfold"}, {("Table 3", "uf1"), ("Table 3", "uar")}),
    "14_local_regions": ({"scheme": "localregions5", "protocol": "group_kfold", "plan": {"cross": []}},
                         {("Table 11", "uf1"), ("Table 11", "accuracy")}),
}


def _execute(name: str, parameters: dict, out: Path) -> nbformat.NotebookNode:
    pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=parameters,
                        kernel_name="python3", progress_bar=False, cwd=str(ROOT / "notebooks"))
    return nbformat.read(out, as_version=4)


@pytest.fixture(scope="module")
def executed(home, tmp_path_factory):
    """``executed(name)``: the notebook run once under its CASES parameters (module-wide)."""
    out, done = tmp_path_factory.mktemp("executed"), {}

    def run(name: str):
        if name not in done:
            done[name] = _execute(name, {"profile": "smoke", **CASES[name][0]}, out / f"{name}.ipynb")
        return done[name]
    return run


def _text(nb) -> str:
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts += [o.get("text", "")] + [str(v) for k, v in o.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


@pytest.mark.parametrize("name", list(CASES))
def test_scheme_and_protocol_reach_the_executed_notebook(name, executed):
    given, headline_keys = CASES[name]
    text = _text(executed(name))
    scheme, protocol = given["scheme"], given["protocol"]
    assert f"scheme `{scheme}`" in text or f"| {scheme} |" in text or f">{scheme}<" in text, "scheme not shown"
    assert protocol in text
    # the headline rows kept for the overview say the scheme and protocol they ran under
    p = params.resolve("smoke", scheme=scheme, protocol=protocol, plan=given.get("plan"))
    rows = records.headlines(params.headline_tag(p))
    rows = rows[rows["paper"] == chapter(name).paper]
    assert len(rows) and set(zip(rows["table"], rows["metric"])) == headline_keys, rows
    assert (rows["scheme"] == scheme).all() and rows["protocol"].str.startswith(protocol).all()
    # the same chapter under its own parameters keeps its rows under another tag: nothing overwritten
    assert params.headline_tag(p) != params.headline_tag(params.resolve("smoke"))


def test_a_scheme_the_chapter_cannot_use_stops_the_notebook(home, tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        _execute("13_cropnet", {"profile": "smoke", "scheme": "pnso"}, tmp_path / "refused.ipynb")
    assert err.value.ename == "ConfigError"
    assert "13_cropnet" in err.value.evalue and "scheme='pnso'" in err.value.evalue
    assert "cropnet5" in err.value.evalue and "megc2019" in err.value.evalue  # what it accepts


def test_the_overview_reads_the_rows_of_the_same_parameters(executed, tmp_path):
    """The overview run with a chapter's scheme and protocol shows its numbers with them; with its own
    defaults it reads another tag, where that chapter kept nothing."""
    executed("13_cropnet")
    given = {"profile": "smoke", **CASES["13_cropnet"][0]}
    text = _text(_execute("50_results_overview", given, tmp_path / "overview.ipynb"))
    kept = records.headlines(params.headline_tag(params.resolve("smoke", scheme="megc2019", protocol="group_kfold")))
    shown = report.results_overview(kept)
    n = int((shown["study_provenance"] != report.NOT_RUN).sum())  # CropNet Table 3's UF1 and UAR, and any other
    assert n >= 2 and f"{n} of {len(shown)} published headlines have a number" in text  # chapter kept with these
    assert len(shown) >= 12  # the five papers' 12 headlines, and those of any paper added since
    assert "SMIC; megc2019; group" in text  # each with its scheme and protocol
    plain = _text(_execute("50_results_overview", {"profile": "smoke"}, tmp_path / "plain.ipynb"))
    assert f"0 of {len(shown)} published headlines have a number" in plain


@pytest.mark.parametrize("given, says", [({"epochs": "ten"}, "epochs must be an integer >= 1, not 'ten'"),
                                         ({"seed": "x"}, "seed must be an integer >= 0, not 'x'"),
                                         ({"frame_size": "abc"}, "frame_size must be a face side in pixels"),
                                         ({"device": "cuda"}, "device 'cuda' is not on this machine")])
def test_a_bad_parameter_stops_the_notebook_with_a_config_error_naming_it(home, tmp_path, monkeypatch, given, says):
    """Issue 20, case 6: ``papermill ... -p epochs ten`` gave a raw ValueError from int(); ``-p device cuda`` on a
    machine without CUDA failed in torch after preprocessing."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the kernel sees no CUDA, whatever the machine has
    with pytest.raises(pm.PapermillExecutionError) as err:
        _execute("10_dlhn", {"profile": "smoke", **given}, tmp_path / "refused.ipynb")
    assert err.value.ename == "ConfigError" and says in err.value.evalue, err.value.evalue
