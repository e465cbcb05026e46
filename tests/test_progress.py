import io

from harness.progress import Progress


def test_plain_lines_for_ci_logs():
    out = io.StringIO()
    p = Progress(out, live=False, every_s=3600)
    p("6.12.117/x86_64", 0, 100, "booting")
    for i in range(1, 101):
        p("6.12.117/x86_64", i, 100, "")
    p("6.12.117/x86_64", 100, 100, "complete in 80s")
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert lines[0] == "[6.12.117/x86_64] 0/100 programs   0%  booting"
    assert lines[-1] == "[6.12.117/x86_64] 100/100 programs 100%  complete in 80s"
    assert 4 <= len(lines) <= 6  # quarter steps, not one line per program


def test_plain_lines_print_a_counting_note_once_per_period():
    out = io.StringIO()
    p = Progress(out, live=False, every_s=3600)
    p("uml-6.12.117/x86_64", 100, 100, "")
    for i in range(50):
        p("uml-6.12.117/x86_64", 100, 100, f"second pass: {i} logs")
    p("uml-6.12.117/x86_64", 100, 100, "complete in 12s")
    assert out.getvalue().splitlines() == [
        "[uml-6.12.117/x86_64] 100/100 programs 100%",
        "[uml-6.12.117/x86_64] 100/100 programs 100%  second pass: 0 logs",
        "[uml-6.12.117/x86_64] 100/100 programs 100%  complete in 12s"]


def test_live_block_redraws_one_line_per_cell():
    out = io.StringIO()
    p = Progress(out, live=True)
    p("a/x86_64", 1, 10, "")
    p("b/x86_64", 2, 10, "")
    p("a/x86_64", 5, 10, "")
    text = out.getvalue()
    assert text.count("\x1b[2F") == 1 and text.count("\x1b[1F") == 1  # moved up over the block
    assert text.endswith("\x1b[2F\x1b[2K[a/x86_64] 5/10 programs  50%\n\x1b[2K[b/x86_64] 2/10 programs  20%\n")
