"""Charts, report and comparison of memstrat results files.

results   loading and checking a results file, grouping its records into cells
strategy  strategy names, their order and their colours (one colour per strategy everywhere)
figure    what every chart shares: title, machine corner, saving as PNG and SVG
charts/   one module per chart, each named after the file it writes
plot, report, compare   the three command-line entry points (scripts/plot, ...)
"""
