"""Reliability battery, command-line part: bad arguments, run folders, checkpoints and faults.

Each case runs ``pyroclust`` in-process (:func:`pyroclust.cli.main`) as a user would and checks
three things: the exit status; standard error holding ONE line ``pyroclust: error: ...`` (or
``pyroclust: interrupted ...``) that names the problem, and no traceback; and that nothing was
lost: every file in the folders involved keeps its bytes and modification time, and no file
or folder appears where the command failed.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pyroclust import cli
from pyroclust.infer.checkpoint import digest, load_checkpoint
from pyroclust.infer.trainer import SVITrainer

STATUS = re.compile(r"pyroclust: (fitting|resuming) \S+ on ")
TINY = ["--hidden", "8", "--latent-dim", "2", "--pretrain-epochs", "0", "--no-progress"]


# --------------------------------------------------------------------------- helpers
def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time (ns); folders too."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def one_line(capsys, pattern: str, prefix: str = "pyroclust: error: ") -> str:
    """The one line on standard error; it starts with ``prefix`` and matches ``pattern``.

    The status line a fit prints when it starts (``pyroclust: fitting ...``) is not an error
    and is left out."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and not STATUS.match(line)]
    assert len(lines) == 1, lines
    assert lines[0].startswith(prefix), lines[0]
    assert re.search(pattern, lines[0], re.IGNORECASE), (pattern, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """tiny.npz: 60 rows of 16 values in [0, 1] from three prototypes, with labels."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    protos = rng.random((3, 16)) > 0.5
    x = np.clip(np.where(protos[y], 0.85, 0.15) + rng.normal(0, 0.05, (60, 16)), 0, 1)
    np.savez(folder / "tiny.npz", x=x.astype(np.float32), y=y)
    return folder


def fit_argv(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["fit", "vade", "--data", str(data_dir / "tiny.npz"), "--out", str(out), *TINY, *extra]


@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory) -> Path:
    """A finished one-epoch run (config, checkpoints, labels, metrics, plots)."""
    out = tmp_path_factory.mktemp("runs") / "done"
    assert cli.main(fit_argv(data_dir, out, "--epochs", "1")) == 0
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    """A copy of the finished run that a test may damage."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


@pytest.fixture
def interrupted_run(run_copy) -> Path:
    """A run stopped in its first epoch: config.json and train.ckpt, no results yet."""
    for name in cli.common.RUN_FILES:
        if name not in ("config.json", "train.ckpt"):
            (run_copy / name).unlink(missing_ok=True)
    return run_copy


# --------------------------------------------------------------------------- arguments
FIT_ARGUMENTS = [
    (["--seed", "-1"], r"--seed.*0 to 4294967295.*'-1'"),
    (["--seed", "4294967296"], r"--seed.*4294967296"),
    (["--seed", "x"], r"--seed.*'x'"),
    (["--n-components", "2.5"], r"--n-components.*integer.*'2\.5'"),
    (["--n-components", "0"], r"--n-components.*> 0"),
    (["--weights", "uniform:3"], r"--weights.*'uniform' takes no value"),
    (["--weights", "learned:2"], r"--weights.*'learned' takes no value"),
    (["--weights", "dirichlet:abc"], r"--weights.*takes a number.*'abc'"),
    (["--weights", "dirichlet:-1"], r"--weights.*alpha must be a positive"),
    (["--weights", "nope"], r"--weights.*unknown weight prior 'nope'"),
    (["--epochs", "-1"], r"--epochs.*>= 0"),
    (["--batch-size", "0"], r"--batch-size.*> 0"),
    (["--lr", "0"], r"--lr.*> 0"),
    (["--lr", "nan"], r"--lr.*'nan'"),
    (["--lr", "inf"], r"--lr.*'inf'"),
    (["--hidden", "8,x"], r"--hidden.*layer widths"),
    (["--latent-dim", "0"], r"--latent-dim.*> 0"),
    (["--pretrain-epochs", "-2"], r"--pretrain-epochs.*>= 0"),
    (["--header", "maybe"], r"--header.*invalid choice"),
    (["--index-col", "-1"], r"--index-col.*>= 0"),
    (["--index-col", ""], r"--index-col"),
    (["--device", "tpu"], r"--device.*invalid choice"),
    (["--frobnicate"], r"unrecognized arguments: --frobnicate"),
]


@pytest.mark.parametrize(("extra", "pattern"), FIT_ARGUMENTS, ids=lambda v: " ".join(v))
def test_fit_refuses_a_bad_argument_while_parsing(data_dir, tmp_path, capsys, extra, pattern):
    out = tmp_path / "run"
    assert cli.main(fit_argv(data_dir, out, *extra)) == 2
    one_line(capsys, pattern)
    assert not out.exists()  # nothing is created before every argument is checked


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["fit", "no-such-model"], r"invalid choice: 'no-such-model'"),
        (["inspect", "m.ckpt", "--seed", "-1"], r"--seed.*'-1'"),
        (["inspect", "m.ckpt", "--num-samples", "0"], r"--num-samples.*> 0"),
        (["predict", "m.ckpt"], r"--data"),
        (["predict", "m.ckpt", "--data", "d.npz", "--header", "y"], r"--header"),
        (["representations", "--seed", "-1"], r"--seed"),
        (["no-such-command"], r"invalid choice"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_other_subcommands_refuse_bad_arguments(tmp_path, monkeypatch, capsys, argv, pattern):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    one_line(capsys, pattern)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- data files
def _write(folder: Path, name: str, content) -> Path:
    path = folder / name
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.mkdir()
    return path


DATA_FILES = [
    ("empty2d.npz", lambda p: np.savez(p, x=np.zeros((0, 4))), r"no samples"),
    ("empty2d.npy", lambda p: np.save(p, np.zeros((0, 4))), r"no samples"),
    ("zero.npy", b"", r"empty \(0 bytes\)"),
    ("zero.npz", b"", r"empty|0 bytes"),
    ("zero.csv", b"", r"empty|0 bytes|no"),
    ("binary.csv", b"\xff\xfe\x00garbage\x00\x01,,\n", r"binary|not a text"),
    ("words.csv", b"a,b\nx,y\nz,w\n", r"words\.csv"),
    ("nan.npy", lambda p: np.save(p, np.full((5, 3), np.nan)), r"nan|finite"),
    ("dir.npz", None, r"dir\.npz.*director|folder"),
    ("text.npy", b"1,2,3\n4,5,6\n", r"text\.npy"),
]


@pytest.mark.parametrize(("name", "content", "pattern"), DATA_FILES, ids=[c[0] for c in DATA_FILES])
def test_fit_refuses_bad_data_files_and_creates_nothing(tmp_path, capsys, name, content, pattern):
    path = _write(tmp_path, name, content)
    before = snapshot(tmp_path)
    out = tmp_path / "run"
    assert cli.main(["fit", "vade", "--data", str(path), "--out", str(out), *TINY]) == 2
    one_line(capsys, pattern)
    assert snapshot(tmp_path) == before


def test_missing_data_file(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["fit", "vade", "--data", str(tmp_path / "no.npz"), "--out", str(out)]) == 2
    one_line(capsys, r"no\.npz")
    assert not out.exists()


def test_csv_options_on_a_npz_file_are_refused(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(fit_argv(data_dir, out, "--header", "yes")) == 2
    one_line(capsys, r"\.csv files only")
    assert not out.exists()


def test_header_and_index_col_read_a_csv_as_told(tmp_path, capsys):
    """A header-less CSV whose first data row has an empty cell: ambiguous in auto mode,
    read as data with --header no; an id column is dropped with --index-col."""
    rng = np.random.default_rng(1)
    x = rng.random((30, 3)).round(3)
    lines = [f"{i},{a},{b},{c}" for i, (a, b, c) in enumerate(x)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    argv = ["fit", "vade", "--data", str(path), "--out", str(out), *TINY, "--epochs", "1"]
    assert cli.main([*argv, "--n-components", "2", "--header", "no", "--index-col", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_samples"] == 30 and metrics["n_features"] == 3
    config = json.loads((out / "config.json").read_text())
    assert config["header"] == "no" and config["index_col"] == 0
    capsys.readouterr()


# --------------------------------------------------------------------------- run folders
def test_fit_into_a_finished_run_is_refused(data_dir, run_copy, capsys):
    before = snapshot(run_copy)
    assert cli.main(fit_argv(data_dir, run_copy, "--epochs", "1")) == 2
    one_line(capsys, r"holds a run.*--overwrite")
    assert snapshot(run_copy) == before


def test_fit_into_an_interrupted_run_is_refused(data_dir, interrupted_run, capsys):
    before = snapshot(interrupted_run)
    assert cli.main(fit_argv(data_dir, interrupted_run, "--epochs", "1")) == 2
    one_line(capsys, r"holds a run \(config\.json, train\.ckpt\).*--resume")
    assert snapshot(interrupted_run) == before


def test_fit_into_a_folder_with_only_labels_is_refused(data_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "labels.csv").write_text("index,label\n0,1\n")
    before = snapshot(out)
    assert cli.main(fit_argv(data_dir, out, "--epochs", "1")) == 2
    one_line(capsys, r"labels\.csv")
    assert snapshot(out) == before


def test_fit_with_overwrite_replaces_the_run(data_dir, run_copy, capsys):
    (run_copy / "notes.txt").write_text("mine")  # not a run file: kept
    old = (run_copy / "metrics.json").read_bytes()
    assert cli.main(fit_argv(data_dir, run_copy, "--epochs", "2", "--overwrite")) == 0
    assert json.loads((run_copy / "metrics.json").read_text())["epochs"] == 2
    assert (run_copy / "metrics.json").read_bytes() != old
    assert (run_copy / "notes.txt").read_text() == "mine"
    assert json.loads((run_copy / "config.json").read_text())["epochs"] == 2
    capsys.readouterr()


def test_fit_into_an_existing_empty_folder_is_fine(data_dir, tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert cli.main(fit_argv(data_dir, out, "--epochs", "1")) == 0
    assert (out / "model.ckpt").is_file()
    capsys.readouterr()


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_fit_out_naming_a_file_is_refused(data_dir, tmp_path, capsys, where):
    user = tmp_path / "results.txt"
    user.write_text("keep me")
    out = user if where == "file" else user / "run"
    before = snapshot(tmp_path)
    assert cli.main(fit_argv(data_dir, out, "--epochs", "1")) == 2
    one_line(capsys, r"results\.txt.*is a file")
    assert snapshot(tmp_path) == before


def test_resume_and_overwrite_together_are_refused(data_dir, interrupted_run, capsys):
    before = snapshot(interrupted_run)
    assert cli.main(fit_argv(data_dir, interrupted_run, "--resume", "--overwrite")) == 2
    one_line(capsys, r"not both")
    assert snapshot(interrupted_run) == before


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["--epochs", "5"], r"--epochs 5 \(saved: 1\)"),
        (["--n-components", "4"], r"--n-components 4 \(saved: None\)"),
        (["--weights", "zipf"], r"--weights zipf"),
        (["--lr", "0.5"], r"--lr 0\.5"),
        (["--seed", "3"], r"--seed 3 \(saved: None\)"),
        (["--hidden", "16"], r"--hidden 16 \(saved: 8\)"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_resume_with_a_changed_option_writes_nothing(
    data_dir, interrupted_run, capsys, extra, pattern
):
    before = snapshot(interrupted_run)
    argv = ["fit", "vade", "--out", str(interrupted_run), "--resume", "--no-progress", *extra]
    assert cli.main(argv) == 2
    line = one_line(capsys, pattern)
    assert "cannot resume" in line
    assert snapshot(interrupted_run) == before


def test_resume_after_a_refused_change_still_works(data_dir, interrupted_run, capsys):
    argv = ["fit", "vade", "--out", str(interrupted_run), "--resume", "--no-progress"]
    assert cli.main([*argv, "--epochs", "7"]) == 2
    assert cli.main(argv) == 0  # config.json was not rewritten by the refused call
    assert json.loads((interrupted_run / "metrics.json").read_text())["epochs"] == 1
    capsys.readouterr()


def test_resume_of_a_finished_run_is_refused(run_copy, capsys):
    before = snapshot(run_copy)
    assert cli.main(["fit", "vade", "--out", str(run_copy), "--resume"]) == 2
    one_line(capsys, r"finished.*--overwrite")
    assert snapshot(run_copy) == before


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [
        (lambda run: (run / "config.json").write_text("{not json"), r"not readable JSON"),
        (lambda run: (run / "config.json").write_text("[1, 2]"), r"options of a run"),
        (lambda run: (run / "config.json").write_text('{"model": "vae"}'), r"'vae' run"),
        (lambda run: (run / "config.json").unlink(), r"config\.json does not exist"),
        (lambda run: (run / "train.ckpt").write_bytes(b""), r"train\.ckpt.*empty"),
        (lambda run: (run / "train.ckpt").write_bytes(b"junk" * 10), r"not a readable"),
    ],
    ids=["bad-json", "json-list", "other-model", "no-config", "empty-ckpt", "junk-ckpt"],
)
def test_resume_of_a_damaged_run_is_one_line_and_writes_nothing(
    interrupted_run, capsys, damage, pattern
):
    damage(interrupted_run)
    before = snapshot(interrupted_run)
    argv = ["fit", "vade", "--out", str(interrupted_run), "--resume", "--no-progress"]
    assert cli.main(argv) == 2
    one_line(capsys, pattern)
    assert snapshot(interrupted_run) == before


# --------------------------------------------------------------------------- predict / inspect
def test_predict_out_naming_a_directory_is_checked_before_loading(data_dir, tmp_path, capsys):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"")  # would fail to load: the --out check must come first
    target = tmp_path / "out"
    target.mkdir()
    argv = ["predict", str(broken), "--data", str(data_dir / "tiny.npz"), "--out", str(target)]
    assert cli.main(argv) == 2
    one_line(capsys, r"--out .*out' is a directory")
    assert list(target.iterdir()) == []


def test_predict_refuses_an_existing_file_without_overwrite(
    data_dir, finished_run, tmp_path, capsys
):
    labels = tmp_path / "labels.csv"
    labels.write_text("my own labels\n")
    before = snapshot(tmp_path)
    ckpt = str(finished_run / "model.ckpt")
    argv = ["predict", ckpt, "--data", str(data_dir / "tiny.npz"), "--out", str(labels)]
    assert cli.main(argv) == 2
    one_line(capsys, r"labels\.csv' exists; pass --overwrite")
    assert snapshot(tmp_path) == before
    assert cli.main([*argv, "--overwrite"]) == 0
    assert labels.read_text().startswith("index,label")
    capsys.readouterr()


def test_predict_out_under_a_file_is_refused(data_dir, finished_run, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    before = snapshot(tmp_path)
    ckpt = str(finished_run / "model.ckpt")
    argv = ["predict", ckpt, "--data", str(data_dir / "tiny.npz"), "--out", str(tmp_path / "f/l")]
    assert cli.main(argv) == 2
    one_line(capsys, r"is a file, not a folder")
    assert snapshot(tmp_path) == before


def test_predict_of_bad_data_writes_no_labels(finished_run, tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.random.default_rng(0).random((5, 7)))
    out = tmp_path / "labels.csv"
    ckpt = str(finished_run / "model.ckpt")
    argv = ["predict", ckpt, "--data", str(tmp_path / "wide.npy"), "--out", str(out)]
    assert cli.main(argv) == 2
    one_line(capsys, r"7 features|16")
    assert not out.exists()


def test_inspect_out_naming_a_file_is_refused(finished_run, tmp_path, capsys):
    user = tmp_path / "plots"
    user.write_text("keep")
    assert cli.main(["inspect", str(finished_run / "model.ckpt"), "--out", str(user)]) == 2
    one_line(capsys, r"plots' is a file")
    assert user.read_text() == "keep"


def test_representations_out_naming_a_file_is_refused(tmp_path, capsys):
    user = tmp_path / "study"
    user.write_text("keep")
    assert cli.main(["representations", "--out", str(user), "--epochs", "0"]) == 2
    one_line(capsys, r"study' is a file")
    assert user.read_text() == "keep"


# --------------------------------------------------------------------------- checkpoints
def _record(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _resave(path: Path, record: dict, *, redigest: bool = True) -> None:
    """Write ``record`` back, recomputing the digest as anyone can (it is not a signature)."""
    if redigest and isinstance(record.get("payload"), dict):
        record["sha256"] = digest(record["payload"])
    torch.save(record, path)


def _edit_payload(edit):
    def damage(path: Path) -> None:
        record = _record(path)
        edit(record["payload"])
        _resave(path, record)

    return damage


def _edit_record(edit, redigest=True):
    def damage(path: Path) -> None:
        record = _record(path)
        edit(record)
        _resave(path, record, redigest=redigest)

    return damage


CHECKPOINTS = [
    ("empty", lambda p: p.write_bytes(b""), r"empty \(0 bytes\)"),
    ("truncated", lambda p: p.write_bytes(p.read_bytes()[:1000]), r"not a readable checkpoint"),
    ("noise", lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)), r"not a readable"),
    ("text", lambda p: p.write_text("hello\n"), r"not a readable checkpoint"),
    ("other-program", lambda p: torch.save({"w": torch.zeros(2)}, p), r"not a pyroclust"),
    ("a-list", lambda p: torch.save([1, 2], p), r"not a pyroclust checkpoint"),
    ("version", _edit_record(lambda r: r.update(version=99)), r"version 99"),
    ("foreign-kind", _edit_record(lambda r: r.update(kind="svi-trainer")), r"'svi-trainer'"),
    ("no-kind", _edit_record(lambda r: r.pop("kind")), r"names no kind"),
    ("no-payload", _edit_record(lambda r: r.update(payload=[1])), r"no payload dict"),
    ("no-digest", _edit_record(lambda r: r.pop("sha256"), redigest=False), r"no SHA-256"),
    (
        "edited",
        _edit_record(lambda r: r["payload"].update(n_features_in=3), redigest=False),
        r"integrity check.*not a signature",
    ),
    ("no-history", _edit_payload(lambda p: p.pop("history")), r"lacks 'history'"),
    ("no-model", _edit_payload(lambda p: p.pop("model")), r"lacks 'model'"),
    ("width-text", _edit_payload(lambda p: p.update(n_features_in="16")), r"'n_features_in'"),
    ("width-bool", _edit_payload(lambda p: p.update(n_features_in=True)), r"'n_features_in'"),
    ("model-list", _edit_payload(lambda p: p.update(model=[1, 2])), r"'model' should be a state"),
    ("guide-values", _edit_payload(lambda p: p.update(guide={"a": 1})), r"'guide' should be"),
    ("spec-text", _edit_payload(lambda p: p.update(spec="vade")), r"'spec' should be dict"),
    ("spec-key", _edit_payload(lambda p: p["spec"].update(colour=1)), r"malformed.*rebuilt"),
    ("spec-arch", _edit_payload(lambda p: p["spec"].update(architecture="x")), r"ckpt"),
    ("spec-empty", _edit_payload(lambda p: p.update(spec={})), r"malformed.*rebuilt"),
    ("state-keys", _edit_payload(lambda p: p.update(model={})), r"does not fit|malformed"),
    ("class-name", _edit_payload(lambda p: p.update(model_class="Foo")), r"'Foo'"),
]


@pytest.fixture
def model_copy(finished_run, tmp_path) -> Path:
    path = tmp_path / "model.ckpt"
    path.write_bytes((finished_run / "model.ckpt").read_bytes())
    return path


@pytest.mark.parametrize(
    ("name", "damage", "pattern"), CHECKPOINTS, ids=[c[0] for c in CHECKPOINTS]
)
def test_predict_refuses_a_bad_checkpoint(
    data_dir, model_copy, tmp_path, capsys, name, damage, pattern
):
    damage(model_copy)
    before = snapshot(tmp_path)
    out = tmp_path / "labels.csv"
    argv = ["predict", str(model_copy), "--data", str(data_dir / "tiny.npz"), "--out", str(out)]
    assert cli.main(argv) == 2
    one_line(capsys, pattern)
    assert snapshot(tmp_path) == before  # no labels.csv, the checkpoint untouched


@pytest.mark.parametrize("name", ["empty", "no-history", "spec-key", "foreign-kind"])
def test_inspect_refuses_a_bad_checkpoint(model_copy, tmp_path, capsys, name):
    damage, pattern = {c[0]: c[1:] for c in CHECKPOINTS}[name]
    damage(model_copy)
    before = snapshot(tmp_path)
    assert cli.main(["inspect", str(model_copy), "--num-samples", "5"]) == 2
    one_line(capsys, pattern)
    assert snapshot(tmp_path) == before


def test_a_checkpoint_folder_or_missing_file_is_one_line(data_dir, tmp_path, capsys):
    argv = ["--data", str(data_dir / "tiny.npz"), "--out", str(tmp_path / "l.csv")]
    assert cli.main(["predict", str(tmp_path), *argv]) == 2
    one_line(capsys, r"is a directory")
    assert cli.main(["predict", str(tmp_path / "none.ckpt"), *argv]) == 2
    one_line(capsys, r"does not exist")
    assert not (tmp_path / "l.csv").exists()


def test_the_training_checkpoint_is_not_a_model(data_dir, finished_run, tmp_path, capsys):
    out = tmp_path / "l.csv"
    ckpt = str(finished_run / "train.ckpt")
    argv = ["predict", ckpt, "--data", str(data_dir / "tiny.npz"), "--out", str(out)]
    assert cli.main(argv) == 2
    one_line(capsys, r"'fit-session' checkpoint, not a 'clusterer'")
    assert not out.exists()


# --------------------------------------------------------------------------- faults
def test_a_diverging_fit_stops_in_one_line_naming_stage_epoch_and_step(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(fit_argv(data_dir, out, "--epochs", "3", "--lr", "1e20")) == 2
    line = one_line(capsys, r"svi stage: non-finite .* at epoch \d+, step \d+")
    assert "train.ckpt" in line
    payload = load_checkpoint(out / "train.ckpt", "fit-session")  # the last good state, readable
    current = payload["current"] or payload["params"]
    tensors = [t for t in _tensors(current) if t.is_floating_point()]
    assert tensors and all(bool(torch.isfinite(t).all()) for t in tensors)
    assert not (out / "metrics.json").exists()


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _tensors(value)


def test_a_huge_learning_rate_is_one_line(data_dir, tmp_path, capsys):
    """--lr 1e6 on tiny data: a scale underflows to 0 (finite, yet invalid): the fit stops
    in one line naming the stage, epoch and step."""
    out = tmp_path / "run"
    assert cli.main(fit_argv(data_dir, out, "--epochs", "3", "--lr", "1e6")) == 2
    one_line(capsys, r"stage: non-finite .*scale.* at epoch \d+, step \d+")
    assert (out / "config.json").is_file() and not (out / "metrics.json").exists()


def test_ctrl_c_mid_fit_leaves_a_resumable_run(data_dir, tmp_path, monkeypatch, capsys):
    original = SVITrainer._early_stopping

    def interrupt(self, elbo):
        if self.epoch == 2:
            raise KeyboardInterrupt
        original(self, elbo)

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(SVITrainer, "_early_stopping", interrupt)
        assert cli.main(fit_argv(data_dir, out, "--epochs", "3")) == 130
    line = one_line(capsys, r"interrupted; the run is checkpointed", prefix="pyroclust: ")
    assert f"{out} --resume" in line
    assert (out / "train.ckpt").is_file() and not (out / "metrics.json").exists()
    before = snapshot(out)
    assert cli.main(fit_argv(data_dir, out, "--epochs", "3")) == 2  # not without --resume
    one_line(capsys, r"--resume")
    assert snapshot(out) == before
    assert cli.main(["fit", "vade", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 3
    capsys.readouterr()


def test_ctrl_c_while_loading_is_one_line(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.fit, "load_data", interrupted)
    out = tmp_path / "run"
    assert cli.main(["fit", "vade", "--out", str(out), "--no-progress"]) == 130
    one_line(capsys, r"^pyroclust: interrupted$", prefix="pyroclust: ")
    assert not out.exists()


def test_an_os_error_is_one_line(data_dir, tmp_path, monkeypatch, capsys):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.csv"))

    monkeypatch.setattr(cli.fit, "load_data", denied)
    assert cli.main(["fit", "vade", "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    one_line(capsys, r"Permission denied: .*x\.csv")


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    """Only expected failures are flattened: a genuine bug still propagates."""

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli.fit, "load_data", bug)
    with pytest.raises(ZeroDivisionError):
        cli.main(["fit", "vade", "--out", str(tmp_path / "run"), "--no-progress"])
