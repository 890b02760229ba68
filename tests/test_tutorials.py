"""Execute every notebook of tutorials/ in smoke mode (``PYROCLUST_SMOKE=1``).

The notebooks run in a ``python3`` Jupyter kernel started from this interpreter (jupyter_client
replaces the kernel spec's ``python`` by ``sys.executable``), so they import the pyroclust being
tested. Outputs are discarded; the notebooks stay committed without them. Progress bars drawn in
a kernel stay output-light: widgets (``ipywidgets`` is in the test and tutorials extras) or,
without them, a text bar that refreshes seldom.
"""

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
KERNEL_STARTUP_TIMEOUT_S = 300


def test_there_are_tutorials():
    assert NOTEBOOKS, f"no notebook found in {TUTORIALS}"
    assert "vade_digits.ipynb" in {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cells
    assert "smoke_test" in code_cells[0].source, "the first code cell must set smoke_test"
    for cell in code_cells:
        assert cell.outputs == [] and cell.execution_count is None, "clear the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("PYROCLUST_SMOKE", "1")  # inherited by the kernel
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # one torch thread in the kernel too, as in the suite (the root conftest.py): with one of
    # the 2 cores busy, the GM-VAE notebook's small fits took 264 s at 2 threads against
    # 11 s at 1, and a cell ran over CELL_TIMEOUT_S in the whole suite
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        # a loaded 2-core CI machine can take over a minute to start a kernel (the default
        # 60 s once failed there, and nbclient then hides the cause behind an AttributeError)
        startup_timeout=KERNEL_STARTUP_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []
    # output-light: the tutorials print a few hundred characters (bars are off in smoke mode)
    text = "".join(
        out.text
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "stream"
    )
    assert len(text) < 5_000, f"{path.name} writes {len(text)} characters of text"


# A fit with bars on, in a kernel: 10 epochs of 6 steps with a 0.2 s pause after each epoch,
# 2 s or more in all, which tqdm's default text bar (refreshed every 0.1 s) draws 10+ times.
PROGRESS_CELL = """
import sys, time
if BLOCK_WIDGETS:
    sys.modules["ipywidgets"] = None  # as in a kernel without ipywidgets
import torch
from pyroclust import zoo
from pyroclust.infer import SVITrainer
from pyroclust.infer.progress import uses_widgets

torch.manual_seed(0)
model, guide = zoo.make("vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,))
pause = lambda trainer, epoch: time.sleep(0.2)
trainer = SVITrainer(model, guide, epochs=10, batch_size=8, random_state=0, callbacks=[pause])
trainer.fit(torch.rand(48, 12))
print("widgets:", uses_widgets())
"""


def _run_cells(*sources: str) -> list:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, startup_timeout=KERNEL_STARTUP_TIMEOUT_S
    )
    client.execute()
    return [out for cell in nb.cells for out in cell.outputs]


@pytest.mark.parametrize("widgets", [True, False], ids=["ipywidgets", "no-ipywidgets"])
def test_progress_bars_in_a_notebook_are_output_light(widgets, monkeypatch):
    """Bars are one widget each with ipywidgets; without, text refreshed seldom (not a line
    per tenth of a second, which flooded notebooks with hundreds of lines)."""
    if widgets:
        pytest.importorskip("ipywidgets")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    outputs = _run_cells(f"BLOCK_WIDGETS = {not widgets}", PROGRESS_CELL)
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    stdout = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    views = [
        o
        for o in outputs
        if o.output_type == "display_data" and "application/vnd.jupyter.widget-view+json" in o.data
    ]
    assert f"widgets: {widgets}" in stdout
    if widgets:
        assert len(views) == 1 and "VaDE svi" not in stderr
    else:
        assert views == [] and "VaDE svi" in stderr
        assert stderr.count("\r") <= 3, stderr  # the first and the last state
    assert len(json.dumps([dict(o) for o in outputs])) < 5_000
