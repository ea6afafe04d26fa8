"""report.py (and the figure runs/report_plot.py draws for it): fashion-report on a hand-made sweep
folder: finished jobs, repeated seeds, a failed job and one still running."""

import csv
import json

import matplotlib.figure
import matplotlib.text
import pytest
from omegaconf import OmegaConf
from torch.utils.tensorboard import SummaryWriter

from fashion_resnet import report

# job -> (overrides, per-epoch val/acc, metrics.json or None)
JOBS = {
    "0": (["lr=0.1", "seed=0"], [0.5, 0.7], {"val/acc_best": 0.7, "test/acc": 0.68}),
    "1": (["lr=0.1", "seed=1"], [0.6, 0.8], {"val/acc_best": 0.8, "test/acc": 0.74}),
    "2": (["lr=0.01", "seed=0"], [0.4, 0.6], {"val/acc_best": 0.6, "test/acc": 0.58}),
    "3": (["lr=0.01", "seed=1"], [], None),  # failed before its first epoch
    "10": (["lr=0.001", "seed=0"], [0.3], None),  # still running
}


def make_job(folder, overrides, curve, metrics):
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), folder / ".hydra" / "overrides.yaml")
    writer = SummaryWriter(folder / "tensorboard")
    for epoch, acc in enumerate(curve):
        step = 10 * (epoch + 1)
        writer.add_scalar("val/acc", acc, step)
        writer.add_scalar("epoch", epoch, step)
    writer.close()
    if metrics:
        (folder / "metrics.json").write_text(json.dumps({**metrics, "epochs": len(curve)}))


@pytest.fixture
def sweep(tmp_path):
    for name, job in JOBS.items():
        make_job(tmp_path / "sweep" / name, *job)
    (tmp_path / "sweep" / "multirun.yaml").write_text("{}\n")
    return tmp_path / "sweep"


def test_reads_per_epoch_validation_accuracy(sweep):
    job = report.read_job(sweep / "1", "1")
    assert [e for e, _ in job.curve] == [1, 2]
    assert [a for _, a in job.curve] == pytest.approx(JOBS["1"][1])
    assert job.overrides == {"lr": "0.1", "seed": "1"}


def test_report_on_a_partly_failed_sweep(sweep, capsys):
    assert report.main([str(sweep)]) == 0
    with (sweep / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == ["0", "1", "2", "3", "10"]  # numbered, not sorted as text
    assert [r["status"] for r in rows][2:] == ["ok", "no result (0 epochs logged)",
                                               "no result (1 epochs logged)"]  # fmt: skip
    assert float(rows[1]["test/acc"]) == JOBS["1"][2]["test/acc"] and rows[3]["test/acc"] == ""
    md = (sweep / "report.md").read_text()
    assert "No metrics.json (failed or still running): 3 (no result" in md
    assert "10 (no result (1 epochs logged))" in md
    a, b = JOBS["0"][2]["test/acc"], JOBS["1"][2]["test/acc"]
    std = abs(a - b) / 2**0.5  # sample std of two values
    assert f"| lr=0.1 | 2 | 0.7500 ± 0.0707 | {(a + b) / 2:.4f} ± {std:.4f} |" in md
    assert (sweep / "report.png").stat().st_size > 10_000
    assert "Wrote" in capsys.readouterr().out


def test_several_run_folders_need_an_output_folder(sweep, tmp_path):
    with pytest.raises(SystemExit):
        report.main([str(sweep / "0"), str(sweep / "1")])
    assert report.main([str(sweep / "0"), str(sweep / "1"), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "report.md").read_text().count("| sweep/") == 2


def test_no_runs_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        report.main([str(tmp_path)])
    assert stop.value.code == 2
    message = f"fashion-report: error: No run folders (with .hydra/) in: {tmp_path}\n"
    assert capsys.readouterr().err == message


def test_swept_keys_are_columns_before_a_second_job_exists(tmp_path):
    sweep = tmp_path / "sweep"
    make_job(sweep / "0", ["lr=0.1", "epochs=2"], [0.5], None)
    hydra = {"overrides": {"task": ["lr=0.1,0.01", "epochs=2"]}, "sweeper": {"params": None}}
    OmegaConf.save(OmegaConf.create({"hydra": hydra}), sweep / "multirun.yaml")
    report.main([str(sweep)])
    md = (sweep / "report.md").read_text()
    assert "| job | lr | best val acc |" in md and "Same in every job: `epochs=2`" in md


def test_folds_are_grouped_like_seeds(tmp_path):
    """`data.folds=3 data.fold=0,1,2` for two learning rates: one mean ± std row per lr."""
    sweep = tmp_path / "sweep"
    accs = {"0.1": [0.8, 0.9, 0.7], "0.01": [0.5, 0.6, 0.4]}
    for i, (lr, fold) in enumerate((lr, f) for lr in accs for f in range(3)):
        metrics = {"val/acc_best": accs[lr][fold], "test/acc": accs[lr][fold]}
        make_job(sweep / str(i), [f"lr={lr}", "data.folds=3", f"data.fold={fold}"], [0.5], metrics)
    report.main([str(sweep)])
    md = (sweep / "report.md").read_text()
    assert "Across folds (mean ± sample std):" in md
    assert "| lr=0.1 | 3 | 0.8000 ± 0.1000 | 0.8000 ± 0.1000 |" in md
    assert "| lr=0.01 | 3 | 0.5000 ± 0.1000 |" in md


def test_tags_are_a_column(tmp_path):
    sweep = tmp_path / "sweep"
    for i, tags in enumerate([["baseline"], ["lr-test", "cosine"]]):
        make_job(sweep / str(i), [f"lr=0.{i + 1}"], [0.5], {"val/acc_best": 0.5, "test/acc": 0.5})
        OmegaConf.save(OmegaConf.create({"tags": tags}), sweep / str(i) / ".hydra" / "config.yaml")
    report.main([str(sweep)])
    md = (sweep / "report.md").read_text()
    assert "| job | tags | lr |" in md and "| 1 | lr-test cosine | 0.2 |" in md
    with (sweep / "report.csv").open() as f:
        assert [r["tags"] for r in csv.DictReader(f)] == ["baseline", "lr-test cosine"]


def test_a_panel_with_nothing_to_draw_says_so(tmp_path, monkeypatch):
    """A debug=fdr sweep: jobs finished, but no epoch logged and no metric to plot."""
    for name, lr in (("0", "0.1"), ("1", "0.01")):
        make_job(tmp_path / "sweep" / name, [f"lr={lr}"], [], {"epochs": 0})
    texts = []
    savefig = matplotlib.figure.Figure.savefig

    def record(fig, *args, **kwargs):
        texts.extend(t.get_text() for t in fig.findobj(matplotlib.text.Text))
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    report.main([str(tmp_path / "sweep"), "--metric", "test/acc"])
    assert "no epochs logged yet (debug=fdr runs log none)" in texts
    assert "no finished job has test/acc" in texts


# A degradation-like sweep: per-epoch train/loss, train/acc and val/acc of three jobs.
CURVE_JOBS = {
    "0": (["model=resnet18", "model.net.residual=true"], [0.7, 0.8, 0.9]),
    "1": (["model=resnet18", "model.net.residual=false"], [0.6, 0.7, 0.75]),
    "2": (["model=resnet34", "model.net.residual=false"], [0.5, 0.55]),  # still running
}


@pytest.fixture
def curve_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    for name, (overrides, acc) in CURVE_JOBS.items():
        make_job(sweep / name, overrides, [a - 0.05 for a in acc], None)  # val/acc
        writer = SummaryWriter(sweep / name / "tensorboard")
        for epoch, a in enumerate(acc):
            for metric, value in (("train/acc", a), ("train/loss", 2 * (1 - a)), ("epoch", epoch)):
                writer.add_scalar(metric, value, 10 * (epoch + 1))
        writer.close()
    return sweep


def drawn_figures(monkeypatch) -> list:
    """The Figures report_plot.curves returns, kept for reading their lines back."""
    figures, draw = [], report.report_plot.curves
    monkeypatch.setattr(report.report_plot, "curves", lambda *a: figures.append(draw(*a)))
    return figures


def test_curves_draw_one_panel_per_metric_and_one_line_per_job(curve_sweep, monkeypatch):
    figures = drawn_figures(monkeypatch)
    assert report.main([str(curve_sweep), "--curves", "train/loss,1-train/acc,val/acc"]) == 0
    assert (curve_sweep / "curves.png").stat().st_size > 10_000
    (fig,) = figures
    assert [ax.get_title() for ax in fig.axes] == ["train/loss", "1 - train/acc (error)",
                                                   "val/acc"]  # fmt: skip
    for ax in fig.axes:
        assert len(ax.lines) == 3  # one per job, the unfinished one's 2 epochs too
        assert [list(line.get_xdata()) for line in ax.lines] == [[1, 2, 3], [1, 2, 3], [1, 2]]
    error = [list(line.get_ydata()) for line in fig.axes[1].lines]
    assert error == [pytest.approx([1 - a for a in acc]) for _, acc in CURVE_JOBS.values()]
    val = [list(line.get_ydata()) for line in fig.axes[2].lines]
    assert val == [pytest.approx([a - 0.05 for a in acc]) for _, acc in CURVE_JOBS.values()]
    # one legend, naming each job by the swept keys (model= is the same in jobs 0 and 1)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "0: model=resnet18 model.net.residual=true",
        "1: model=resnet18 model.net.residual=false",
        "2: model=resnet34 model.net.residual=false",
    ]
    with (curve_sweep / "curves.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["epoch"]) for r in rows] == [("0", "1"), ("0", "2"), ("0", "3"),
        ("1", "1"), ("1", "2"), ("1", "3"), ("2", "1"), ("2", "2")]  # fmt: skip
    assert float(rows[4]["1-train/acc"]) == pytest.approx(0.3)
    assert rows[4]["model.net.residual"] == "false"


def test_curves_by_default_and_a_metric_no_job_logged(curve_sweep, monkeypatch):
    figures = drawn_figures(monkeypatch)
    report.main([str(curve_sweep)])
    assert [ax.get_title() for ax in figures[0].axes] == list(report.CURVES)
    report.main([str(curve_sweep), "--curves", "train/loss,train/acc,val/acc,val/los"])
    fig = figures[1]
    assert len(fig.axes) == 4  # a 2 x 3 grid, its two unused cells removed
    assert not fig.axes[3].lines
    texts = [t.get_text() for t in fig.axes[3].texts]
    assert texts == ["no job logged val/los per epoch"]


def test_curves_of_several_run_folders(curve_sweep, tmp_path, monkeypatch):
    figures = drawn_figures(monkeypatch)
    runs = [str(curve_sweep / "0"), str(curve_sweep / "2")]
    report.main([*runs, "--out", str(tmp_path / "cmp"), "--curves", "val/acc"])
    (ax,) = figures[0].axes
    assert [line.get_label() for line in ax.lines] == [
        "sweep/0: model=resnet18 model.net.residual=true",
        "sweep/2: model=resnet34 model.net.residual=false",
    ]


def test_no_curve_names_is_a_usage_error(curve_sweep, capsys):
    with pytest.raises(SystemExit) as stop:
        report.main([str(curve_sweep), "--curves", ","])
    assert stop.value.code == 2
    assert "no metric names in ','" in capsys.readouterr().err
