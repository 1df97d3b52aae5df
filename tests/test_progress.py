"""Progress bars: live on a terminal, (almost) silent in logs (files, pipes, batch jobs)."""
import io

from tqdm import tqdm

from relcon.utils.progress import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run_bar(stream, n=2000, disable=False):
    bar = progress(range(n), desc="train epoch 0", file=stream, leave=False, disable=disable)
    for step in bar:
        bar.set_postfix(loss=f"{1 / (step + 1):.4g}")
        if step % 100 == 0:
            tqdm.write("a log line", file=stream)  # how printlog writes: redraws the open bars
    return stream.getvalue()


def test_a_log_file_gets_no_frames_of_a_short_bar_and_every_frame_when_asked(monkeypatch):
    monkeypatch.delenv("RELCON_PROGRESS_SECONDS", raising=False)
    assert run_bar(io.StringIO()) == "a log line\n" * 20  # shorter than the interval: no frame
    assert run_bar(io.StringIO(), disable=True) == "a log line\n" * 20  # e.g. on ranks other than 0
    monkeypatch.setenv("RELCON_PROGRESS_SECONDS", "0")  # every update, as plain tqdm would
    lines = run_bar(io.StringIO(), n=250).splitlines()
    assert sum(line.startswith("train epoch 0: ") for line in lines) >= 250
    # one line per frame: the log lines in between keep lines of their own
    assert lines.count("a log line") == 3 and all(line.startswith("train epoch 0: ") or line == "a log line"
                                                  for line in lines)


def test_a_terminal_keeps_its_live_bar(monkeypatch):
    monkeypatch.delenv("RELCON_PROGRESS_SECONDS", raising=False)
    out = run_bar(Terminal())
    assert "train epoch 0" in out and "it/s" in out


def test_bad_interval_names_the_variable(monkeypatch):
    monkeypatch.setenv("RELCON_PROGRESS_SECONDS", "soon")
    try:
        run_bar(io.StringIO(), n=1)
    except ValueError as e:
        assert "RELCON_PROGRESS_SECONDS='soon'" in str(e)
    else:
        raise AssertionError("no error for RELCON_PROGRESS_SECONDS=soon")


def test_frames_forced_between_draws_show_the_items_done(monkeypatch):
    # a frame at most every 0.05 s, forced by set_postfix and log lines: the count it shows is
    # always the number of items finished (was 0 until tqdm's own iterator drew a frame)
    import re
    import time

    from relcon.utils.progress import progress

    monkeypatch.setenv("RELCON_PROGRESS_SECONDS", "0.05")
    stream = io.StringIO()
    bar = progress(range(12), total=12, desc="train epoch 0", file=stream)
    for i in bar:
        time.sleep(0.02)
        bar.set_postfix(done=i)  # i items finished before this one
        tqdm.write("a log line", file=stream)
    frames = [re.search(r"\| (\d+)/12 .*done=(\d+)", line) for line in stream.getvalue().splitlines()
              if line.startswith("train epoch 0")]
    assert len(frames) >= 3 and all(m is not None for m in frames)
    assert all(int(m.group(1)) == int(m.group(2)) for m in frames), stream.getvalue()
    assert int(frames[-1].group(1)) >= 6
