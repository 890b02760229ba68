import json
import math
import subprocess
import sys

import numpy as np
import pytest

from pyroclust import cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--hidden", "16", "--latent-dim", "2", "--pretrain-epochs", "1", "--no-progress"]


@pytest.fixture
def tiny_npz(tmp_path):
    """90 images of 4x4 pixels in [0, 1] from three prototypes, with labels."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    protos = rng.random((3, 16)) > 0.5
    x = np.clip(np.where(protos[y], 0.85, 0.15) + rng.normal(0, 0.05, (90, 16)), 0, 1)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=x.reshape(90, 4, 4).astype(np.float32), y=y)
    return path


def fit(tiny_npz, out, *extra):
    return cli.main(["fit", "vade", "--data", str(tiny_npz), "--out", str(out), *TINY, *extra])


def test_fit_writes_metrics_checkpoint_labels_and_plots(tiny_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert fit(tiny_npz, out, "--epochs", "1") == 0
    printed = capsys.readouterr().out
    for key in ("acc", "nmi", "silhouette", "elbo", "seconds"):
        assert key in printed
    metrics = json.loads((out / "metrics.json").read_text())
    for key in cli.SCORE_KEYS:
        assert key in metrics, key
        if key not in ("model", "data"):
            assert math.isfinite(metrics[key]), (key, metrics[key])
    assert metrics["model"] == "vade" and metrics["data"] == "tiny"
    assert metrics["n_samples"] == 90 and metrics["n_components"] == 3  # classes of the data
    assert metrics["epochs"] == 1
    assert 0.0 <= metrics["acc"] <= 1.0
    posterior = metrics["weights_summary"]["posterior"]  # learned weights: a point mass
    for k, weight in enumerate(metrics["weights"]):
        assert posterior[f"weights[{k}]"]["mean"] == pytest.approx(weight, rel=1e-5)
        assert posterior[f"weights[{k}]"]["sd"] == pytest.approx(0.0, abs=1e-7)
    for name in ("elbo.png", "embedding.png", "samples.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    assert (out / "style_transfer.png").read_bytes()[:8] == PNG_MAGIC  # codes x clusters
    assert (out / "reconstructions.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "model.ckpt").is_file() and (out / "train.ckpt").is_file()
    labels = cli.read_labels(out / "labels.csv")
    assert labels.shape == (90,) and set(labels) <= {0, 1, 2}

    # predict with the saved model reproduces the fit's labels
    pred = tmp_path / "pred" / "labels.csv"
    argv = ["predict", str(out / "model.ckpt"), "--data", str(tiny_npz), "--out", str(pred)]
    assert cli.main([*argv, "--proba"]) == 0
    np.testing.assert_array_equal(cli.read_labels(pred), labels)
    header = pred.read_text().splitlines()[0]
    assert header == "index,label,p0,p1,p2"
    proba = np.loadtxt(pred, delimiter=",", skiprows=1)[:, 2:]
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-4)
    assert "acc" in capsys.readouterr().out


def test_fit_and_predict_name_rows_by_a_csvs_row_name_column(tmp_path, capsys):
    """--index-col NAME drops the column from the features and writes its values as the
    label files' index, in fit's labels.csv and in predict's output."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)) * 3.0
    names = [f"call-{i:03d}" for i in range(40)]
    lines = ["a,b,id,c,d"] + [
        ",".join([*(f"{v:.5f}" for v in row[:2]), n, *(f"{v:.5f}" for v in row[2:])])
        for n, row in zip(names, x, strict=True)
    ]
    data = tmp_path / "calls.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    argv = ["fit", "vade", "--data", str(data), "--index-col", "id", "--out", str(out)]
    assert cli.main([*argv, *TINY, "--epochs", "1", "--n-components", "2"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_features"] == 4
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[0] == "index,label" and [r.split(",")[0] for r in rows[1:]] == names
    pred = tmp_path / "pred.csv"
    argv = ["predict", str(out / "model.ckpt"), "--data", str(data), "--index-col", "id"]
    assert cli.main([*argv, "--out", str(pred)]) == 0
    assert pred.read_text().splitlines() == rows
    capsys.readouterr()


def test_predict_shows_its_progress_in_rows_unless_told_not_to(
    tiny_npz, tmp_path, monkeypatch, capsys
):
    from pyroclust.cli import predict as predict_cli

    out = tmp_path / "run"
    assert fit(tiny_npz, out, "--epochs", "1") == 0
    capsys.readouterr()
    monkeypatch.setattr(predict_cli, "PROGRESS_DELAY_S", 0.0)  # at once, however small
    argv = ["predict", str(out / "model.ckpt"), "--data", str(tiny_npz), "--chunk-size", "40"]
    assert cli.main([*argv, "--out", str(tmp_path / "a.csv")]) == 0
    err = capsys.readouterr().err
    assert "predict" in err and "90.0/90.0" in err and "rows" in err  # every row, counted
    assert cli.main([*argv, "--out", str(tmp_path / "b.csv"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_label_writer_names_rows_block_by_block(tmp_path):
    names = np.array(["a", "b", "c"])
    from pyroclust.cli.common import LabelWriter

    with LabelWriter(tmp_path / "l.csv", row_names=names) as writer:
        writer.write(np.array([1, 0]))
        writer.write(np.array([2]))
        with pytest.raises(ValueError, match="3 row names for at least 4 rows"):
            writer.write(np.array([0]))
    assert (tmp_path / "l.csv").read_text().splitlines() == ["index,label", "a,1", "b,0", "c,2"]
    path = cli.write_labels(tmp_path / "p.csv", np.array([0]), np.array([[0.25, 0.75]]), names[:1])
    assert path.read_text().splitlines() == ["index,label,p0,p1", "a,0,0.25,0.75"]


def test_fit_of_unlabelled_real_data_uses_a_gaussian(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 5)) * 3.0
    np.savez(tmp_path / "real.npz", x=x)
    out = tmp_path / "run"
    argv = ["fit", "vade", "--data", str(tmp_path / "real.npz"), "--out", str(out)]
    assert cli.main([*argv, *TINY, "--epochs", "1", "--n-components", "2"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "acc" not in metrics and metrics["n_components"] == 2
    assert not (out / "samples.png").exists()  # not images
    config = json.loads((out / "config.json").read_text())
    assert config["n_components"] == 2
    from pyroclust.estimator import Clusterer

    est = Clusterer.load(out / "model.ckpt")
    assert est.model_.zoo_spec["likelihood"] == "gaussian"


def test_resume_continues_an_interrupted_run(tiny_npz, tmp_path, interrupt_at_epoch, capsys):
    reference = tmp_path / "reference"
    assert fit(tiny_npz, reference, "--epochs", "3") == 0
    expected = json.loads((reference / "metrics.json").read_text())

    out = tmp_path / "run"
    with interrupt_at_epoch(2):
        assert fit(tiny_npz, out, "--epochs", "3") == 130
    err = capsys.readouterr().err
    assert str(out / "train.ckpt") in err and "--resume" in err
    assert not (out / "metrics.json").exists()

    # the saved options (epochs=3, the tiny network...) are reused
    assert cli.main(["fit", "vade", "--out", str(out), "--resume", "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 3
    assert metrics["elbo"] == pytest.approx(expected["elbo"], rel=1e-5)
    np.testing.assert_array_equal(
        cli.read_labels(out / "labels.csv"), cli.read_labels(reference / "labels.csv")
    )


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("pyroclust: error: ")
    return err[0]


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert cli.main(["fit", "vade", "--data", "no-such-data-set", "--no-progress"]) == 2
    assert "unknown data set" in one_error_line(capsys)

    corrupt = tmp_path / "model.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    assert cli.main(["predict", str(corrupt), "--data", "digits"]) == 2
    assert "model.ckpt" in one_error_line(capsys)
    assert cli.main(["inspect", str(tmp_path / "missing.ckpt")]) == 2
    assert "does not exist" in one_error_line(capsys)

    assert cli.main(["fit", "vade", "--resume", "--no-progress"]) == 2
    assert "--out" in one_error_line(capsys)
    assert cli.main(["fit", "vade", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "cannot resume" in one_error_line(capsys)


def test_a_csv_errors_way_out_names_the_flag_not_the_python_argument(tmp_path, capsys):
    data = tmp_path / "named.csv"
    data.write_text("name,a,b\nr0,1,2\nr1,3,4\n")
    assert cli.main(["fit", "vade", "--data", str(data), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert "pass --index-col name if that column holds row names" in line
    assert "index_col=" not in line
    assert cli.main(["fit", "vade", "--data", "digits", "--header", "yes"]) == 2
    assert "--header and --index-col apply to .csv files only" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "meant", "help_of"),
    [
        (["fit", "vade", "--n-clusters", "3"], "did you mean --n-components?", "fit vade"),
        (["fit", "gmvae", "--epoks", "2"], "did you mean --epochs?", "fit gmvae"),
        (["inspect", "m.ckpt", "--random-state", "0"], "unrecognized arguments", "inspect"),
        (["predict", "m.ckpt", "--data", "d.npz", "--colour"], "arguments: --colour", "predict"),
    ],
)
def test_an_unknown_option_names_the_flag_meant_and_its_subcommands_help(
    argv, meant, help_of, capsys
):
    assert cli.main(argv) == 2
    line = one_error_line(capsys)
    assert meant in line
    assert line.endswith(f"(see: pyroclust {help_of} --help)")


def test_bad_options_are_usage_errors(capsys):
    assert cli.main(["fit", "no-such-model"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert cli.main(["fit", "vade", "--weights", "no-such-prior"]) == 2
    assert "unknown weight prior" in capsys.readouterr().err
    assert cli.main(["fit", "vade", "--epochs", "-1"]) == 2
    assert "--epochs" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option",
    [
        ["--epochs", "-1"],
        ["--latent-dim", "0"],
        ["--noise-std", "-0.1"],
        ["--lr", "nan"],
        ["--hidden", "16,x"],
        ["--k-sweep", "0,10"],
        ["--device", "tpu"],
    ],
)
def test_representations_options_are_checked_while_parsing(option, capsys):
    """A bad value is a usage error naming the option, before any data are loaded."""
    assert cli.main(["representations", *option]) == 2
    assert option[0] in capsys.readouterr().err


def test_representations_help_documents_every_option(capsys):
    assert cli.main(["representations", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Agarap" in out and "pyroclust representations --data mnist" in out
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["representations"]
    for action in sub._actions:
        assert action.help, action.option_strings


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["fit", "--help"],
        ["predict", "-h"],
        ["inspect", "-h"],
        ["representations", "-h"],
    ],
)
def test_help_exits_0_with_examples(argv, capsys):
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "usage: pyroclust" in out and "examples:" in out


def test_subcommand_registry_drives_the_parser():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(cli.SUBCOMMANDS)
    assert set(cli.SUBCOMMANDS) >= {"fit", "predict", "inspect"}


def test_inspect_prints_summary_and_writes_plots(tiny_npz, tmp_path, capsys):
    pytest.importorskip("pyroclust.inspect", reason="pyroclust/inspect.py not there yet")
    out = tmp_path / "run"
    assert fit(tiny_npz, out, "--epochs", "1", "--weights", "dirichlet:1.0") == 0
    capsys.readouterr()
    plots = tmp_path / "plots"
    argv = ["inspect", str(out / "model.ckpt"), "--out", str(plots), "--num-samples", "50"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "weights[0]" in printed and "mean" in printed
    assert "cluster site 'assignment': Dirichlet prior, K = 3, 50 posterior draws" in printed
    assert "components above 1% of the weight: " in printed
    rows = [line.split() for line in printed.splitlines() if line.startswith("weights[")]
    means = [float(row[1]) for row in rows]
    assert len(rows) == 3 and means == sorted(means, reverse=True)  # heaviest first
    assert "concentration (3 values)" in printed  # a vector site: in the CSV only
    table = (plots / "weights_summary.csv").read_text().splitlines()
    assert table[0].startswith("variable,mean,sd") and len(table) == 1 + 3 + 3
    assert cli.main([*argv, "--top", "1"]) == 0
    printed = capsys.readouterr().out
    assert sum(line.startswith("weights[") for line in printed.splitlines()) == 1
    assert "... 2 lighter components hold" in printed
    assert cli.main([*argv, "--top", "all"]) == 0
    assert "concentration[2]" in capsys.readouterr().out
    summary = json.loads((out / "metrics.json").read_text())["weights_summary"]
    weights = {k: v for k, v in summary["posterior"].items() if k.startswith("weights[")}
    assert set(weights) == {"weights[0]", "weights[1]", "weights[2]"}
    assert sum(row["mean"] for row in weights.values()) == pytest.approx(1.0, abs=1e-3)
    for row in weights.values():  # a Dirichlet posterior, not a point mass
        assert row["hdi_3%"] < row["mean"] < row["hdi_97%"] and row["sd"] > 0
    assert summary["posterior"]["concentration[0]"]["mean"] == 1.0  # dirichlet:1.0
    assert 1.0 <= summary["expected_n_clusters_above_1%"] <= 3.0
    for name in ("weights_forest.png", "rank_size.png"):
        assert (plots / name).read_bytes()[:8] == PNG_MAGIC, name


def test_inspect_draws_the_law_of_a_fitted_zipf_exponent(tiny_npz, tmp_path, monkeypatch, capsys):
    """With a Zipf prior the rank/size plot shows the model's own law, not a new fit."""
    from pyroclust import inspect as pinspect

    out = tmp_path / "run"
    assert fit(tiny_npz, out, "--epochs", "1", "--weights", "zipf:1.5") == 0
    exponents = []
    original = pinspect.plot_rank_size

    def spy(weights, exponent=None, path=None):
        exponents.append(exponent)
        return original(weights, exponent, path)

    monkeypatch.setattr(pinspect, "plot_rank_size", spy)
    capsys.readouterr()
    assert cli.main(["inspect", str(out / "model.ckpt"), "--num-samples", "20"]) == 0
    assert "zipf_exponent" in capsys.readouterr().out
    assert exponents == [pytest.approx(1.5)]
    assert (out / "rank_size.png").read_bytes()[:8] == PNG_MAGIC


def test_inspect_without_the_inspect_module_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyroclust.inspect", None)  # import raises ImportError
    assert cli.main(["inspect", str(tmp_path / "model.ckpt")]) == 2
    assert "pyroclust.inspect" in one_error_line(capsys)


def test_python_dash_m_pyroclust():
    done = subprocess.run(
        [sys.executable, "-m", "pyroclust", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("pyroclust ")


def test_fit_help_lists_the_architectures_with_their_descriptions(capsys):
    from pyroclust import zoo

    assert cli.main(["fit", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name, entry in zoo.ZOO.items():
        assert name in out and " ".join(entry.description.split()) in out


def test_each_architecture_offers_only_its_own_options(capsys):
    assert cli.main(["fit", "vae", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--beta" in out and "--latent-dim" in out and "(default: 500,500,2000)" in out
    assert "--n-components" not in out and "--weights" not in out
    assert "--pretrain-epochs" not in out  # a VAE starts from its random values
    assert cli.main(["fit", "vade", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--n-components" in out and "--weights" in out and "--pretrain-epochs" in out
    assert "--beta" not in out
    assert cli.main(["fit", "vae", "--n-components", "3"]) == 2
    assert "unrecognized arguments: --n-components" in capsys.readouterr().err


def test_a_new_registry_entry_gets_its_subcommand(monkeypatch, capsys):
    from pyroclust import zoo
    from pyroclust.options import Option, positive_int

    entry = zoo.Architecture(
        name="tiny",
        build=zoo.build_autoencoder,
        description="a tiny autoencoder",
        options=(Option("latent_dim", positive_int, "code width", "D"),),
    )
    monkeypatch.setitem(zoo.ZOO, "tiny", entry)
    assert cli.main(["fit", "--help"]) == 0
    assert "a tiny autoencoder" in capsys.readouterr().out
    assert cli.main(["fit", "tiny", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "code width (default: 10)" in out and "--hidden" not in out
    assert cli.main(["fit", "tiny", "--latent-dim", "0"]) == 2
    assert "expected an integer > 0" in capsys.readouterr().err


def test_fit_of_a_representation_model(tmp_path, capsys):
    """A VAE fits through the same command: no clusters, no labels, its own --beta."""
    x = np.random.default_rng(0).random((40, 6)).astype(np.float32)
    np.savez(tmp_path / "unit.npz", x=x)
    out = tmp_path / "run"
    argv = ["fit", "vae", "--data", str(tmp_path / "unit.npz"), "--out", str(out)]
    argv += ["--hidden", "8", "--latent-dim", "2", "--beta", "0.5", "--epochs", "1"]
    assert cli.main([*argv, "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_components"] is None and "acc" not in metrics
    config = json.loads((out / "config.json").read_text())
    assert config["beta"] == 0.5 and "n_components" not in config
    from pyroclust.estimator import Clusterer

    assert Clusterer.load(out / "model.ckpt").model_.zoo_spec["beta"] == 0.5


def test_fit_and_predict_offer_csv_layout_and_overwrite_options(capsys):
    for argv in (["fit", "vade", "--help"], ["predict", "--help"]):
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "--header {auto,yes,no}" in out and "--index-col N|NAME|none" in out
        assert "--overwrite" in out


def test_usage_errors_are_one_line(capsys):
    assert cli.main(["fit", "vade", "--seed", "-1"]) == 2
    assert "--seed" in one_error_line(capsys)


def test_fit_refuses_an_existing_run_without_overwrite(tiny_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert fit(tiny_npz, out, "--epochs", "1") == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert fit(tiny_npz, out, "--epochs", "1") == 2
    assert "--overwrite" in one_error_line(capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# --------------------------------------------------------------- options of the recipe, switches
def _parse_fit(argv):
    import argparse

    from pyroclust.cli import fit as fit_cli

    parser = argparse.ArgumentParser()
    fit_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_relaxed_and_enumerated_switches_set_the_cluster_option(capsys):
    assert _parse_fit(["gmvae", "--enumerated"]).cluster == "enumerate"
    assert _parse_fit(["gmvae", "--relaxed"]).cluster == "relaxed"
    assert _parse_fit(["gmvae", "--cluster", "enumerate"]).cluster == "enumerate"
    assert _parse_fit(["gmvae"]).cluster is None  # the builder's default then
    assert _parse_fit(["gmvae", "--cluster", "auto"]).cluster == "auto"
    assert cli.main(["fit", "gmvae", "--relaxed", "--enumerated"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_temperature_schedule_goes_to_the_recipe_and_its_start_to_the_modules():
    from pyroclust.cli import fit as fit_cli
    from pyroclust.datasets import load_dataset
    from pyroclust.infer.schedules import TemperatureAnnealing

    args = _parse_fit(["gmvae", "--temperature", "2:0.25:10", "--w-gaussian", "1"])
    config = fit_cli.fit_config(args)
    assert config["temperature"] == "2:0.25:10"
    ds = load_dataset("digits")
    entry = fit_cli.zoo.ZOO["gmvae"]
    built = fit_cli.builder_options(entry, config, ds)
    assert built["temperature"] == 2.0 and built["w_gaussian"] == 1.0
    callbacks = fit_cli.training_options(entry, config, ds)["callbacks"]
    schedule = [c for c in callbacks if isinstance(c, TemperatureAnnealing)]
    assert len(schedule) == 1 and (schedule[0].start, schedule[0].end) == (2.0, 0.25)
    assert schedule[0].epochs == 10 and schedule[0].value(10) == 0.25
    # the default schedule is the paper's
    default = fit_cli.training_options(entry, fit_cli.fit_config(_parse_fit(["gmvae"])), ds)
    paper = [c for c in default["callbacks"] if isinstance(c, TemperatureAnnealing)][0]
    assert (paper.start, paper.end, paper.epochs) == (1.0, 0.5, 100)


@pytest.mark.parametrize("spec", ["1:0.5", "0:0.5:10", "1:0.5:x", "1:-1:10"])
def test_a_bad_temperature_schedule_is_a_one_line_usage_error(spec, capsys):
    assert cli.main(["fit", "gmvae", "--temperature", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--temperature" in err[-1] and "temperature" in err[-1].split("--temperature", 1)[1]


def test_recipe_options_are_checked_by_name():
    from pyroclust import zoo

    with pytest.raises(ValueError, match="not training options of 'vade'"):
        zoo.default_training("vade", 100, None, temperature="1:0.5:10")
    recipe = zoo.default_training("gmvae", 100, None, temperature="3:1:7")
    assert recipe["callbacks"][0].start == 3.0 and recipe["callbacks"][0].epochs == 7


def test_fit_gmvae_with_switch_and_schedule_saves_them_for_resume(tiny_npz, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["fit", "gmvae", "--data", str(tiny_npz), "--out", str(out), "--hidden", "8"]
    argv += ["--latent-dim", "2", "--feature-dim", "4", "--epochs", "1", "--no-progress"]
    assert cli.main([*argv, "--enumerated", "--temperature", "2:0.5:3"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["cluster"] == "enumerate" and config["temperature"] == "2:0.5:3"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "gmvae" and math.isfinite(metrics["elbo"])
    capsys.readouterr()
    # a resumed run may not change the schedule
    argv_resume = ["fit", "gmvae", "--out", str(out), "--resume", "--temperature", "1:0.5:3"]
    assert cli.main(argv_resume) == 2
    assert "--temperature 1:0.5:3 (saved: 2:0.5:3) differs" in capsys.readouterr().err


def test_start_scores_compare_the_start_with_the_final_clusters_and_the_truth():
    from types import SimpleNamespace

    from pyroclust.cli.fit import start_scores

    start = np.array([0, 0, 1, 1, 2, 2])
    final = np.array([1, 1, 0, 0, 2, 2])  # the same partition, renamed
    est = SimpleNamespace(start_labels_=start, start_agreement_=1.0, labels_=final)
    truth = np.array([0, 0, 1, 1, 1, 1])
    scores = start_scores(est, truth)
    assert scores["start_ari"] == 1.0
    assert scores["start_acc"] == pytest.approx(4 / 6)  # clusters 0 and 1 matched, 2 not
    assert set(scores) == {"start_ari", "start_acc", "start_nmi", "start_ari_true"}
    assert start_scores(est) == {"start_ari": 1.0}  # no labels: only the agreement
    assert start_scores(SimpleNamespace()) == {}  # no recorded start


def test_fit_reports_the_start_beside_the_final_clusters(tiny_npz, tmp_path, monkeypatch):
    from pyroclust.cli import fit as fit_cli
    from pyroclust.metrics import ari, cluster_accuracy

    seen = {}
    original = fit_cli.start_scores

    def spy(est, y=None):
        seen["est"] = est
        return original(est, y)

    monkeypatch.setattr(fit_cli, "start_scores", spy)
    out = tmp_path / "run"
    assert fit(tiny_npz, out, "--epochs", "1") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    est, y = seen["est"], np.load(tiny_npz)["y"]
    final = cli.read_labels(out / "labels.csv")
    np.testing.assert_array_equal(est.labels_, final)
    assert est.start_labels_.shape == final.shape
    assert metrics["start_ari"] == pytest.approx(ari(est.start_labels_, final))
    assert metrics["start_acc"] == pytest.approx(cluster_accuracy(y, est.start_labels_))
    assert metrics["start_ari_true"] == pytest.approx(ari(y, est.start_labels_))


def test_reconstruction_rows_decode_each_item_by_its_own_cluster():
    from types import SimpleNamespace

    from pyroclust.cli.fit import reconstruction_rows

    calls = []

    def reconstruct(x, component=None):  # a fake decoder: cluster c paints every pixel c + 1
        calls.append(component)
        return np.full(x.shape, -1.0 if component is None else component + 1.0)

    est = SimpleNamespace(reconstruct=reconstruct)
    originals = np.arange(6 * 4, dtype=float).reshape(6, 4) / 100
    rows = reconstruction_rows(est, originals, np.array([2, 0, 2, 1, 1, 0]))
    assert rows.shape == (12, 4) and sorted(calls) == [0, 1, 2]
    np.testing.assert_array_equal(rows[:3], originals[:3])  # first row of originals
    np.testing.assert_array_equal(rows[3:6, 0], [3.0, 1.0, 3.0])  # decoded by clusters 2, 0, 2
    np.testing.assert_array_equal(rows[6:9], originals[3:])
    np.testing.assert_array_equal(rows[9:, 0], [2.0, 2.0, 1.0])
    assert (reconstruction_rows(est, originals)[3:6] == -1.0).all()  # no labels: point recon


def test_fit_of_a_ladder_on_coloured_images_scores_every_site_against_every_label_set(
    tmp_path, monkeypatch, capsys
):
    from pyroclust.cli import fit as fit_cli
    from pyroclust.datasets import load_dataset
    from pyroclust.datasets.colored import colorize

    digits = load_dataset("digits")
    ds = colorize(digits.x[:60].reshape(-1, 8, 8), digits.y[:60], seed=0, name="coloured")
    monkeypatch.setattr(fit_cli, "load_data", lambda *args: ds)
    out = tmp_path / "run"
    argv = ["fit", "vlac", "--out", str(out), "--layers", "1,3,2", "--latent-dim", "2"]
    argv += ["--hidden", "8", "--epochs", "1", "--batch-size", "30", "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    scores = metrics["site_scores"]
    assert len(scores) == 2  # the two mixture layers
    assert set(ds.label_sets) == {"digit", "digit_colour", "background_colour"}
    for by_set in scores.values():
        assert set(by_set) == set(ds.label_sets)
        for row in by_set.values():
            assert 0.0 <= row["acc"] <= row["acc_majority"] <= 1.0
    for site in scores:  # the printed table has a line per (site, label set)
        for name in ds.label_sets:
            assert any(site in line and name in line for line in printed.splitlines())
    for name in ("samples.png", "reconstructions.png", "layer_traversals.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    assert sorted(p.name for p in out.glob("components_*.png")) == sorted(
        f"components_{site}.png" for site in scores
    )
    first, second = scores  # inspect reads each layer's weights; the first keeps plain names
    assert not (out / f"labels_{first}.csv").exists()  # labels.csv is the first site's
    assert len(cli.read_labels(out / f"labels_{second}.csv")) == len(ds.x)
    for site, suffix in ((first, ""), (second, f"_{second}")):
        argv = ["inspect", str(out / "model.ckpt"), "--site", site, "--num-samples", "20"]
        assert cli.main(argv) == 0
        assert f"cluster site {site!r}" in capsys.readouterr().out
        for name in (f"weights_summary{suffix}.csv", f"rank_size{suffix}.png"):
            assert (out / name).exists(), name
    assert cli.main(["inspect", str(out / "model.ckpt"), "--site", "nope"]) == 2
    assert f"its cluster sites: {first!r}, {second!r}" in one_error_line(capsys)

    from pyroclust.cli import predict as predict_cli
    from pyroclust.estimator import Clusterer

    monkeypatch.setattr(predict_cli, "load_data", lambda *args: ds)
    est = Clusterer.load(out / "model.ckpt")
    for site in (first, second):  # predict assigns any layer, with that layer's K columns
        path = tmp_path / f"{site}.csv"
        argv = ["predict", str(out / "model.ckpt"), "--data", "c", "--site", site, "--proba"]
        assert cli.main([*argv, "--out", str(path)]) == 0
        assert ["site", site] in [line.split() for line in capsys.readouterr().out.splitlines()]
        np.testing.assert_array_equal(cli.read_labels(path), est.predict(ds.x, site=site))
        written = out / ("labels.csv" if site == first else f"labels_{site}.csv")
        np.testing.assert_array_equal(cli.read_labels(written), cli.read_labels(path))
        k = next(s.n_components for s in est.cluster_sites_ if s.name == site)
        assert path.read_text().splitlines()[0].split(",")[2:] == [f"p{j}" for j in range(k)]


def test_fit_records_world_size_and_only_rank_0_writes(tiny_npz, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert fit(tiny_npz, out, "--epochs", "1") == 0
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 1
    # a second rank of a launch (no process group here: it trains alone) writes no run files
    other = tmp_path / "rank1"
    monkeypatch.setenv("RANK", "1")
    assert fit(tiny_npz, other, "--epochs", "1") == 0
    assert not (other / "metrics.json").exists() and not (other / "config.json").exists()
    assert not (other / "model.ckpt").exists()
    capsys.readouterr()
    # under a launch of several processes, --out is required (every rank must agree on it)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    argv = ["fit", "vade", "--data", str(tiny_npz), *TINY]
    assert cli.main(argv) == 2
    assert "needs --out" in capsys.readouterr().err


def test_jit_fast_path_goes_to_the_estimator_and_may_change_on_resume(capsys):
    from pyroclust.cli import fit as fit_cli
    from pyroclust.datasets import load_dataset

    ds = load_dataset("digits")
    entry = fit_cli.zoo.ZOO["vae"]
    config = fit_cli.fit_config(_parse_fit(["vae", "--jit", "fx"]))
    assert config["jit"] == "fx"
    assert fit_cli.training_options(entry, config, ds)["jit"] == "fx"
    plain = fit_cli.fit_config(_parse_fit(["vae"]))
    assert "jit" not in fit_cli.training_options(entry, plain, ds)
    assert "jit" in fit_cli.RESUME_MAY_CHANGE  # the same loss and gradients, faster
    assert cli.main(["fit", "vae", "--jit", "fast"]) == 2
    assert "--jit" in capsys.readouterr().err


def test_threads_sets_torchs_cpu_threads_and_may_change_on_resume(tiny_npz, tmp_path, capsys):
    import torch

    from pyroclust.cli import fit as fit_cli

    assert fit_cli.fit_config(_parse_fit(["vade", "--threads", "2"]))["threads"] == 2
    assert "threads" in fit_cli.RESUME_MAY_CHANGE  # where it computes, not what
    before = torch.get_num_threads()
    try:
        out = tmp_path / "run"
        assert fit(tiny_npz, out, "--epochs", "1", "--threads", "2") == 0
        assert torch.get_num_threads() == 2
        assert json.loads((out / "config.json").read_text())["threads"] == 2
    finally:
        torch.set_num_threads(before)
    assert cli.main(["fit", "vade", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
