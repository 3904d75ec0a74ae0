"""One module per chart, each named after the files it writes (peak_memory.png/.svg, ...).

Each module has draw(results, out_dir) returning the paths it wrote, or raising
Skip with the reason when the results hold nothing it can draw.
"""


class Skip(Exception):
    """The results hold nothing this chart can show; str() says what is missing."""


# In the order the report shows them.
NAMES = ["peak_memory", "step_time", "time_vs_memory", "memory_over_time", "fragmentation", "fit", "ranks"]
