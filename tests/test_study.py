"""melib.params (profile resolution, where the clips come from), melib.frames, the datasets chapter's tables
(melib.experiments.data) and melib.study (what papermill gets, and a one-chapter study)."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import cv2
import nbformat
import numpy as np
import pandas as pd
import pytest

from melib import config, frames, nbcheck, params, report, study
from melib.experiments import data as data_chapter
from melib.errors import ConfigError, DataError
from processes import still_running

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def only_casme2(monkeypatch, tmp_path, casme2_release):
    """A "real" CASME II: a copy of the synthetic casme2 folder without melib's marker, read by the release
    loader, nothing else configured."""
    for name in params.releases():
        monkeypatch.delenv(f"MELIB_DATA_{name.upper()}", raising=False)
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "no-such-melib.yaml"))
    monkeypatch.setenv("MELIB_DATA_CASME2", str(casme2_release))
    return casme2_release


# ---- profiles ------------------------------------------------------------------------------------------

def test_profiles_resolve_to_their_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    monkeypatch.delenv("MELIB_DATA_SYNTH", raising=False)
    smoke = params.resolve("smoke")
    assert (smoke.data, smoke.epochs, smoke.frame_size, smoke.device, smoke.model_profile) == \
        ("synth", 1, None, "cpu", "default")
    assert smoke.synth == params.SMOKE_SYNTH and params.data_root(smoke) == tmp_path / "data" / "synth-smoke"
    default = params.resolve("default")
    assert (default.data, default.epochs, default.frame_size) == ("synth", params.DEFAULT_EPOCHS, None)
    assert default.synth == {} and params.data_root(default) == config.synth_root() == tmp_path / "data" / "synth"
    paper = params.resolve("paper")
    assert (paper.data, paper.epochs, paper.frame_size, paper.device, paper.model_profile) == \
        ("real", None, None, "auto", "paper")
    assert params.data_root(paper) is None
    shown = params.describe(smoke)["value"]
    assert shown["epochs"] == "1" and shown["data root"] == str(tmp_path / "data" / "synth-smoke")
    # the paper profile on synthetic data uses the default set, not a set of its own
    assert params.data_root(params.resolve("paper", data="synth")) == config.synth_root()


def test_parameters_override_the_profile_and_chapter_defaults_fill_gaps():
    p = params.resolve("default", epochs="3", seed=7, device="cuda", frame_size=48,
                      defaults={"scheme": "pnso", "protocol": "stratified_kfold", "epochs": 99})
    assert (p.epochs, p.seed, p.device, p.frame_size) == (3, 7, "cuda", 48)
    assert (p.scheme, p.protocol) == ("pnso", "stratified_kfold")
    assert params.resolve("smoke", scheme="megc2019", defaults={"scheme": "pnso"}).scheme == "megc2019"
    assert params.resolve("smoke", defaults={"epochs": 5}).epochs == 5  # a chapter may ask for more than smoke's 1
    with pytest.raises(ConfigError, match="unknown profile"):
        params.resolve("fast")
    with pytest.raises(ConfigError, match="unknown parameter"):
        params.resolve("smoke", defaults={"epoch": 2})
    with pytest.raises(DataError, match="no such folder"):
        params.resolve("smoke", data="/no/such/folder")
    assert p.given == {"epochs", "seed", "device", "frame_size"}  # what the notebook set itself
    # frame_size drives the face of the pipelines that take one; each paper's own size otherwise
    assert params.face_size(params.resolve("smoke", frame_size=64), "c3d") == (64, 64)
    assert params.face_size(params.resolve("paper"), "c3d") == (128, 128)
    assert params.face_size(params.resolve("smoke"), "dlhn") == (112, 112)
    with pytest.raises(ConfigError, match="at least 112"):  # DLHN's ROI sizes are in 112-px pixels
        params.face_size(params.resolve("smoke", frame_size=64), "dlhn")
    with pytest.raises(ConfigError, match="fixes its face size"):  # CGPO's pyramid is cut from 320 px
        params.face_size(params.resolve("smoke", frame_size=200), "cropnet")
    with pytest.raises(ConfigError, match="plan must be a dict"):
        params.resolve("smoke", plan="max_folds=2")


def test_train_config_takes_the_profile_epochs_or_the_papers():
    assert params.train_config(params.resolve("smoke"), "c3d_model_a").epochs == 1
    cfg = params.train_config(params.resolve("paper"), "c3d_model_a", batch_size=2)
    assert (cfg.epochs, cfg.optimizer, cfg.batch_size, cfg.device) == (100, "sgd", 2, "auto")


def test_smoke_profile_generates_its_tiny_set(monkeypatch, tmp_path):
    from melib import synth

    calls = []
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    monkeypatch.setattr(synth, "generate_default", lambda root, seed, progress, **kw: calls.append((root, seed, kw))
                        or root)
    params.ensure_synth(params.resolve("smoke"))
    params.ensure_synth(params.resolve("default"))
    assert calls[0] == (tmp_path / "data" / "synth-smoke", 0, params.SMOKE_SYNTH)
    assert calls[1] == (config.synth_root(), 0, {})


# ---- where the clips come from -------------------------------------------------------------------------

def test_samples_synthetic_folder_and_dataset_filter(synth_small):
    df = params.samples(params.resolve("smoke", data=str(synth_small)))
    assert df["synthetic"].all() and set(df["dataset"]) == {"casme2", "samm", "smic"} and len(df) == 63
    two = params.samples(params.resolve("smoke", data=str(synth_small), dataset="casme2+smic"))
    assert set(two["dataset"]) == {"casme2", "smic"} and len(two) == 42
    with pytest.raises(DataError, match="only casme2, samm, smic"):
        params.samples(params.resolve("smoke", data=str(synth_small), dataset="casme2+casme"))
    with pytest.raises(DataError, match="Section A"):  # one release named: its own loader reads the folder
        params.samples(params.resolve("smoke", data=str(synth_small), dataset="casme"))
    pres = params.presence(df)
    assert pres["dataset"].tolist() == ["casme2", "samm", "smic"]
    assert pres["clips"].tolist() == [21, 21, 21] and pres["subjects"].tolist() == [3, 3, 3]
    assert set(pres["kind"]) == {"synthetic (melib)"}


def test_samples_real_data_through_the_release_loader(only_casme2):
    df = params.samples(params.resolve("paper"))  # data="real": every configured release
    assert set(df["dataset"]) == {"casme2"} and not df["synthetic"].any() and len(df) == 21
    assert report.provenance_label(df) == "re-run on real data (CASME II)"
    assert params.configured() == ["casme2"]
    # a folder given for one named release is read by that release's loader, so it is real too
    direct = params.samples(params.resolve("smoke", data=str(only_casme2), dataset="casme2"))
    assert not direct["synthetic"].any() and len(direct) == 21
    with pytest.raises(ConfigError, match="unknown release"):
        params.samples(params.resolve("paper", dataset="casme3"))


def test_real_data_without_configuration_says_how_to_configure(monkeypatch, tmp_path):
    for name in params.releases():
        monkeypatch.delenv(f"MELIB_DATA_{name.upper()}", raising=False)
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError, match="MELIB_DATA_"):
        params.samples(params.resolve("paper"))


# ---- counts, exclusions, frames -------------------------------------------------------------------------

def test_class_counts_known_answer(synth_small):
    df = params.samples(params.resolve("smoke", data=str(synth_small)))
    c = data_chapter.class_counts(df, ["objective", "pnso"]).set_index(["dataset", "scheme", "class"])["count"]
    # CASME II and SAMM: each class I-VII once per subject, 3 subjects; SMIC has no AUs (no objective class)
    for ds in ("casme2", "samm"):
        assert [c[ds, "objective", k] for k in ("I", "II", "III", "IV", "V", "VI", "VII", "total")] == [3] * 7 + [21]
        assert [c[ds, "pnso", k] for k in ("positive", "negative", "surprise", "others")] == [3, 12, 3, 3]
    assert c["smic", "objective", "total"] == 0 and ("smic", "objective", "I") not in c.index


def test_counts_beside_published_match_tables_and_sum_composites(synth_small):
    df = params.samples(params.resolve("smoke", data=str(synth_small)))
    out = data_chapter.counts_beside_published(df)
    assert {"published", "study", "published_provenance", "study_provenance"} <= set(out.columns)
    psn = out[(out["table"] == "Table 4") & (out["paper"] == "PSN") & (out["dataset"] == "casme2")]
    row = psn.set_index("class").loc["positive"]
    assert (row["published"], row["study"]) == (24, 3)
    assert row["published_provenance"] == "published (PSN Table 4)" and row["study_provenance"].startswith("synthetic")
    assert out["difference"].isna().all()  # synthetic counts are no attempt at the published ones
    # the MEGC2019 composite is summed over its three members; datasets absent here are 'not run'
    comp = out[(out["paper"] == "LocalRegions") & (out["dataset"] == "casme2+samm+smic")].set_index("class")
    megc = data_chapter.class_counts(df, ["megc2019"])
    assert comp.loc["total", "study"] == megc[megc["class"] == "total"]["count"].sum() > 0
    absent = out[out["dataset"].str.contains("casme_sq")]
    assert len(absent) and absent["study"].isna().all() and (absent["study_provenance"] == report.NOT_RUN).all()


def test_fixes_and_exclusions_list_every_entry_with_its_reason():
    df = pd.DataFrame({"dataset": ["samm"], "subject": ["samm/006"], "clip": ["006_1_2"], "synthetic": [False]})
    df.attrs = {"fixes": [{"dataset": "samm", "subject": "samm/006", "clip": "006_1_2", "reason": "apex 0 -> 12"}],
                "exclusions": [{"dataset": "samm", "subject": "samm/007", "clip": "007_x", "reason": "no frames"},
                               {"dataset": "samm", "subject": "samm/008", "clip": "008_y", "reason": "bad onset"}]}
    t = data_chapter.fixes_and_exclusions(df)
    assert t["kind"].tolist() == ["fix", "exclusion", "exclusion"]
    assert t["reason"].tolist() == ["apex 0 -> 12", "no frames", "bad onset"]
    df.attrs = {}
    assert data_chapter.fixes_and_exclusions(df).empty


def test_scheme_exclusions_count_by_reason(synth_small):
    df = params.samples(params.resolve("smoke", data=str(synth_small)))
    t = data_chapter.scheme_exclusions(df, ["cropnet5"])
    by = t.groupby("dataset")["clips"].sum()
    assert by["samm"] == 21 and by["smic"] == 21  # CropNet's 5 classes are CASME II only
    assert by["casme2"] == 21 - 15  # 5 emotions x 3 subjects kept
    assert t["excluded_because"].str.len().gt(0).all()


def test_frames_are_shown_for_synthetic_clips_only_unless_opted_in(synth_small, only_casme2):
    syn = params.samples(params.resolve("smoke", data=str(synth_small)))
    real = params.samples(params.resolve("paper"))
    assert frames.frames_allowed(syn) and frames.frames_allowed(syn.iloc[0])
    assert not frames.frames_allowed(real) and not frames.frames_allowed(real.iloc[0])
    assert frames.frames_allowed(real, show_real_frames=True)
    mixed = pd.concat([syn, real], ignore_index=True)
    assert not frames.frames_allowed(mixed)
    assert frames.example_clip(mixed)["synthetic"]  # the chapter follows a synthetic clip when there is one

    shown, note = frames.example_frames(mixed)
    assert [c.split("**")[1] for c, _ in shown] == ["casme2", "samm", "smic"] and note.startswith("casme2:")
    assert all("(synthetic)" in c for c, _ in shown)
    shown, note = frames.example_frames(real)
    assert shown == [] and "show_real_frames=True" in note
    shown, note = frames.example_frames(real, show_real_frames=True)
    assert len(shown) == 1 and note is None
    # the PNG holds the onset, apex and offset frames at native size, pixel for pixel
    img = cv2.imdecode(np.frombuffer(shown[0][1], np.uint8), cv2.IMREAD_COLOR)
    row = real.iloc[0]
    first = cv2.imread(row["frames"][0])
    assert img.shape == (first.shape[0], 3 * first.shape[1], 3)
    assert np.array_equal(img[:, : first.shape[1]], first)


# ---- running the study -----------------------------------------------------------------------------------

def test_papermill_parameters_carry_only_what_was_set():
    assert study.papermill_parameters("smoke") == {"profile": "smoke"}
    got = study.papermill_parameters("default", data=Path("/tmp"), device="cuda", seed=3, show_real_frames=True)
    assert got == {"profile": "default", "data": "/tmp", "device": "cuda", "seed": 3, "show_real_frames": True}
    with pytest.raises(ConfigError):
        study.papermill_parameters("huge")
    # each notebook gets what its chapter takes: the datasets chapter trains nothing (no epochs, no device)
    got = {"profile": "smoke", "epochs": 2, "device": "cuda", "scheme": "pnso", "show_real_frames": True}
    assert study.notebook_parameters("00_datasets", got) == {"profile": "smoke", "scheme": "pnso",
                                                             "show_real_frames": True}
    assert study.notebook_parameters("10_dlhn", got) == {k: v for k, v in got.items() if k != "show_real_frames"}
    assert study.notebook_parameters("40_known_answer", {"profile": "smoke", "data": "/x"}) == {"profile": "smoke"}


def test_notebooks_declare_every_study_parameter_with_smoke_defaults_and_no_outputs():
    for name in ("00_datasets", "01_preprocessing"):
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and tagged[0].cell_type == "code"
        ns: dict = {}
        exec(tagged[0].source, ns)
        assert set(params.PARAMETERS) | {"show_real_frames"} <= set(ns), name
        assert ns["profile"] == "smoke" and ns["show_real_frames"] is False
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in nb.cells if c.cell_type == "code" and not nbcheck.is_checked(c)), \
            f"{name} is stored with outputs outside the cells nbval checks"


def test_plan_lists_missing_chapters(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    shutil.copy(ROOT / "notebooks" / "00_datasets.ipynb", nbs)
    to_run, missing = study.notebooks_to_run(None, ROOT / "book", nbs)
    assert to_run == ["00_datasets"] and missing[:3] == ["01_preprocessing", "40_known_answer", "10_dlhn"]
    assert study.notebooks_to_run(["00_datasets.ipynb"], ROOT / "book", nbs)[0] == ["00_datasets"]
    with pytest.raises(ConfigError, match="10_dlhn"):
        study.notebooks_to_run(["10_dlhn"], ROOT / "book", nbs)


def test_is_current_needs_same_key_and_a_newer_copy(tmp_path):
    src, exe = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    nb = nbformat.v4.new_notebook()
    nbformat.write(nb, src)
    key = study.run_key({"profile": "smoke"})
    assert key != study.run_key({"profile": "smoke", "seed": 1})
    nb.metadata["melib"] = {"run_key": key}
    nbformat.write(nb, exe)
    future = time.time() + 60
    os.utime(exe, (future, future))
    assert study.is_current(src, exe, key) and not study.is_current(src, exe, "other")
    os.utime(src, (future + 10, future + 10))
    assert not study.is_current(src, exe, key)


def test_run_smoke_builds_an_html_index_and_skips_current_notebooks(tmp_path, monkeypatch, synth_small):
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    book = tmp_path / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "executed"))
    executed = tmp_path / "executed"
    kw = dict(notebooks=["00_datasets"], data=str(synth_small), book_dir=book, executed_dir=executed,
              progress=False)
    index = study.run("smoke", **kw)
    assert index == book / "_build" / "html" / "index.html" and index.is_file()
    page = (index.parent / "executed" / "00_datasets.html").read_text()
    assert "Clips per dataset and label scheme" in page and "synthetic" in page
    assert "Traceback" not in page
    nb = nbformat.read(executed / "00_datasets.ipynb", as_version=4)
    assert nb.metadata["papermill"]["parameters"] == {"profile": "smoke", "data": str(synth_small)}
    assert not (executed / ".partial" / "00_datasets.ipynb").exists()  # written, then renamed
    assert not (executed / ".partial" / "00_datasets.kernel.log").exists()  # the kernel's output, kept on failure
    placeholder = (index.parent / "executed" / "01_preprocessing.html").read_text()
    assert "has not been executed yet" in placeholder
    # warm: the executed copy is current, so it is not re-run
    stamp = (executed / "00_datasets.ipynb").stat().st_mtime_ns
    study.run("smoke", **kw)
    assert (executed / "00_datasets.ipynb").stat().st_mtime_ns == stamp


def test_beside_tables_are_laid_out_like_the_papers(synth_small):
    df = params.samples(params.resolve("smoke", data=str(synth_small)))
    tables = dict(data_chapter.beside_tables(data_chapter.counts_beside_published(df)))
    caption = next(c for c in tables if c.startswith("**PSN Table 4**"))
    assert "published (PSN Table 4)" in caption and "this study: synthetic" in caption
    t = tables[caption]
    assert t.index[-1] == "total" and t.loc["positive", ("casme2", "published")] == 24
    assert t.loc["positive", ("casme2", "this study")] == 3 and pd.isna(t.loc["total", ("casme", "this study")])
    wide = data_chapter.counts_wide(data_chapter.class_counts(df, ["pnso"]))
    assert wide.loc[("pnso", "negative"), "casme2"] == 12 and wide.dtypes.eq(int).all()
    assert [c for _, c in wide.index] == ["positive", "negative", "surprise", "others", "total"]


def test_setup_in_the_notebooks_folder_shares_the_repository_home(monkeypatch):
    monkeypatch.setenv("MELIB_HOME", "placeholder")
    monkeypatch.delenv("MELIB_HOME")
    monkeypatch.chdir(params.NOTEBOOKS_DIR)
    p = params.setup("smoke", defaults={"scheme": "pnso"})
    assert p.scheme == "pnso" and os.environ["MELIB_HOME"] == str(params.PACKAGE_ROOT)
    assert config.home() == params.PACKAGE_ROOT.resolve()


def test_a_failing_notebook_is_reported_and_the_book_still_builds(tmp_path, monkeypatch, synth_small):
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"\ndata = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("raise ValueError('planted failure')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbs / "00_datasets.ipynb")
    executed = tmp_path / "executed"
    executed.mkdir()
    earlier = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Datasets\n\nAN EARLIER RUN")])
    nbformat.write(earlier, executed / "00_datasets.ipynb")  # the last good copy, from other parameters
    book = tmp_path / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "executed"))
    with pytest.raises(study.StudyError, match="00_datasets.*planted failure") as err:
        study.run("smoke", data=str(synth_small), notebooks_dir=nbs, executed_dir=executed, book_dir=book,
                  progress=False)
    assert (executed / ".partial" / "00_datasets.ipynb").is_file()
    assert (executed / ".partial" / "00_datasets.kernel.log").is_file()  # the kernel's own output, named in the error
    # issue 20, case 6: a failed run never deletes the last good copy; the book leaves it out
    assert nbformat.read(executed / "00_datasets.ipynb", as_version=4) == earlier
    assert f"its last complete copy {executed / '00_datasets.ipynb'} is kept" in str(err.value)
    page = (book / "_build" / "html" / "executed" / "00_datasets.html").read_text()
    # issue 24: the page says the chapter ran and what stopped it, not that it never ran
    assert "This chapter ran and failed" in page and "planted failure" in page and "AN EARLIER RUN" not in page
    assert "has not been executed yet" not in page


def test_real_data_study_without_configuration_fails_before_running(monkeypatch, tmp_path):
    for name in params.releases():
        monkeypatch.delenv(f"MELIB_DATA_{name.upper()}", raising=False)
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError, match="MELIB_DATA_"):
        study.run("paper", book_dir=tmp_path / "nobook", progress=False)


def _relabel(sheet: Path) -> None:
    """Change the first clip's emotion in a CASME II coding sheet (as a corrected release would)."""
    import openpyxl

    wb = openpyxl.load_workbook(sheet)
    ws = wb.active
    col = [c.value for c in ws[1]].index("Estimated Emotion") + 1
    ws.cell(row=2, column=col).value = "happiness" if ws.cell(row=2, column=col).value != "happiness" else "disgust"
    wb.save(sheet)


def test_the_run_key_follows_the_release_s_sheet_and_frames(tmp_path, monkeypatch, casme2_release):
    """Issue 20, case 4: only the release's root path entered the key, so a corrected label or frame re-ran
    nothing. The key now holds the sheet's content and each frame's size and time (a stat, not a read)."""
    release = tmp_path / "CASME2"
    shutil.copytree(casme2_release, release)
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    for name in params.releases():
        monkeypatch.delenv(f"MELIB_DATA_{name.upper()}", raising=False)
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "no-such-melib.yaml"))
    monkeypatch.setenv("MELIB_DATA_CASME2", str(release))
    given = {"profile": "paper", "data": "real"}
    key = study.run_key(given)
    assert study.run_key(given) == key
    src, exe = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), src)
    nbformat.write(nbformat.v4.new_notebook(metadata={"melib": {"run_key": key}}), exe)
    os.utime(exe, (time.time() + 60,) * 2)
    assert study.is_current(src, exe, study.run_key(given))
    _relabel(next(release.glob("*.xlsx")))
    edited = study.run_key(given)
    assert edited != key and not study.is_current(src, exe, edited)
    frame = Path(params.samples(params.resolve("paper", data="real"))["frames"][0][3])
    st = frame.stat()
    os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a frame replaced by another
    assert study.run_key(given) != edited
    # a folder given as data is followed the same way
    folder = {"profile": "smoke", "data": str(release), "dataset": "casme2"}
    before = study.run_key(folder)
    (release / "notes.txt").write_text("a note beside the clips")
    assert study.run_key(folder) != before


def test_an_edited_label_re_runs_the_chapter(tmp_path, monkeypatch, casme2_release):
    """The runner's decision end to end (the notebook and the book stubbed): current -> skipped; the release's
    sheet edited -> executed again."""
    release = tmp_path / "CASME2"
    shutil.copytree(casme2_release, release)
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), nbs / "00_datasets.ipynb")
    ran = []

    def execute(name, given, notebooks_dir, executed_dir, progress=True, key=None):
        ran.append(name)
        Path(executed_dir).mkdir(parents=True, exist_ok=True)
        stamp = {"run_key": key or study.run_key(given)}
        nbformat.write(nbformat.v4.new_notebook(metadata={"melib": stamp}), Path(executed_dir) / f"{name}.ipynb")
        os.utime(Path(executed_dir) / f"{name}.ipynb", (time.time() + 60,) * 2)

    monkeypatch.setattr(study, "execute", execute)
    monkeypatch.setattr("melib.book.build_book", lambda *a, **k: tmp_path / "index.html")
    kw = dict(notebooks=["00_datasets"], data=str(release), dataset="casme2", notebooks_dir=nbs,
              executed_dir=tmp_path / "executed", progress=False)
    study.run("smoke", **kw)
    study.run("smoke", **kw)
    assert ran == ["00_datasets"]
    _relabel(next(release.glob("*.xlsx")))
    study.run("smoke", **kw)
    assert ran == ["00_datasets"] * 2


def test_a_device_this_machine_lacks_is_refused_before_any_work(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(study, "ensure_synth", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ConfigError, match="device 'cuda' is not on this machine"):
        study.run("smoke", device="cuda", notebooks=["00_datasets"], executed_dir=tmp_path / "executed",
                  progress=False)
    with pytest.raises(ConfigError, match="device 'cuda'"):
        study.plan("smoke", device="cuda", notebooks=["00_datasets"], progress=False)
    assert not (tmp_path / "executed").exists()


def test_an_interrupt_says_in_one_line_what_was_kept(tmp_path, monkeypatch, capsys):
    """Issue 20, case 8: Ctrl-C printed "melib: interrupted" and nothing about the partial notebook; the line
    now names it, the earlier complete copy and the chapters executed before it."""
    from melib import cli

    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name in ("00_datasets", "01_preprocessing"):
        nbformat.write(nbformat.v4.new_notebook(), nbs / f"{name}.ipynb")
    executed = nbs / "executed"
    executed.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), executed / "01_preprocessing.ipynb")  # from an earlier run

    def execute(name, *a, **k):
        if name == "01_preprocessing":
            raise KeyboardInterrupt

    monkeypatch.setattr(study, "NOTEBOOKS_DIR", nbs)
    monkeypatch.setattr(study, "execute", execute)
    monkeypatch.setattr("melib.book.build_book", lambda *a, **k: pytest.fail("the book is built after an interrupt"))
    (tmp_path / "clips").mkdir()
    code = cli.main(["study", "--profile", "smoke", "--data", str(tmp_path / "clips"), "--force", "--jobs", "1",
                     "--notebooks", "00_datasets", "01_preprocessing"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1, err
    assert err[0] == (f"melib: interrupted while executing 01_preprocessing; kept the cells of 01_preprocessing run "
                      f"so far in {executed / '.partial' / '01_preprocessing.ipynb'}; its last complete copy "
                      f"{executed / '01_preprocessing.ipynb'}; the chapters executed before it (00_datasets) in "
                      f"{executed}; the book was not rebuilt")
    assert (executed / "01_preprocessing.ipynb").is_file()


INTERRUPTED = """
import sys
from pathlib import Path
import nbformat
from melib import cli, study

base = Path(sys.argv[1])
nb = nbformat.v4.new_notebook()
given = nbformat.v4.new_code_cell('profile = "smoke"\\ndata = None')
given.metadata["tags"] = ["parameters"]
nb.cells = [given, nbformat.v4.new_code_cell(
    "import os, time\\n"
    f"open({str(base / 'started')!r}, 'w').write(str(os.getpid()))\\n"
    "time.sleep(120)")]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
(base / "nbs").mkdir()
nbformat.write(nb, base / "nbs" / "00_datasets.ipynb")
study.NOTEBOOKS_DIR = base / "nbs"
study.BOOK_DIR = Path(sys.argv[2])
(base / "clips").mkdir()
sys.exit(cli.main(["study", "--profile", "smoke", "--data", str(base / "clips"), "--notebooks", "00_datasets"]))
"""


def test_ctrl_c_during_a_notebook_is_one_line_without_tracebacks(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while a notebook's cell runs: one line
    from melib on stderr (besides progress bars), no kernel or asyncio traceback, and the kernel stopped."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "study.py"
    script.write_text(INTERRUPTED)
    env = {**os.environ, "MELIB_HOME": str(tmp_path), "MELIB_CONFIG": str(tmp_path / "absent.yaml"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(ROOT / "book")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate(timeout=60)
            time.sleep(0.2)
        kernel = int((tmp_path / "started").read_text())
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave the study behind when a check fails
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Task exception" not in err and "Error" not in err, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if "melib" in line]
    partial = tmp_path / "nbs" / "executed" / ".partial" / "00_datasets.ipynb"
    assert len(lines) == 1 and lines[0].startswith("melib: interrupted while executing 00_datasets"), err
    assert str(partial) in lines[0] and partial.is_file()
    assert not still_running([kernel], within=10), "the kernel outlived the interrupted study"
