"""Units and number formats shared by charts, report and compare."""
MIB = 1024.0 * 1024.0


def mib(value):
    return None if value is None else value / MIB


def fmt(value, digits=1, missing="–"):
    """A number with fixed decimals, or a dash when the run could not report it."""
    return missing if value is None else f"{value:.{digits}f}"


def fmt_ms(value, missing="–"):
    # Sub-10 ms steps need a second decimal to be told apart.
    if value is None:
        return missing
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"

