"""Progress bars: tqdm's defaults on a terminal, seldom refreshed text anywhere else."""

import io

from pyroclust.infer import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_off_a_terminal_refreshes_seldom() -> None:
    stream = io.StringIO()
    bar = progress.progress_bar(total=500, file=stream, desc="fit")
    for i in range(500):
        bar.update(1)
        bar.set_postfix(loss=i, refresh=False)
    bar.close()
    assert not progress.uses_widgets()  # not in a Jupyter kernel
    assert bar.mininterval == bar.maxinterval == progress.QUIET_INTERVAL_S
    assert stream.getvalue().count("\r") == 2  # the first and the last state
    assert "500/500" in stream.getvalue() and "loss=499" in stream.getvalue()


def test_a_bar_on_a_terminal_keeps_tqdms_pace_and_follows_its_width() -> None:
    bar = progress.progress_bar(total=3, file=_Terminal())
    bar.close()
    assert bar.mininterval == 0.1 and bar.dynamic_ncols


def test_settings_passed_win_and_disabled_bars_print_nothing() -> None:
    stream = io.StringIO()
    bar = progress.progress_bar(total=3, file=stream, mininterval=0.5)
    bar.close()
    assert bar.mininterval == 0.5 and bar.maxinterval == progress.QUIET_INTERVAL_S
    stream = io.StringIO()
    bar = progress.progress_bar(total=3, file=stream, disable=True)
    bar.update(3)
    bar.close()
    assert stream.getvalue() == ""
