"""Execute every notebook of tutorials/ in smoke mode (``PYROCLUST_SMOKE=1``).

The notebooks run in a ``python3`` Jupyter kernel started from this interpreter (jupyter_client
replaces the kernel spec's ``python`` by ``sys.executable``), so they import the pyroclust being
tested. Outputs are discarded; the notebooks stay committed without them.
"""

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
