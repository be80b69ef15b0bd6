"""``apart report``: one self-contained HTML file for a run (issue 5).

:func:`render_report` draws the page from the API's JSON (the run detail and its
saved steps); :func:`report_inputs` reads that JSON from the CLI's backend --
the local store, or a server when ``APART_API_URL`` is set -- so both modes give
the same report. :func:`write_report` does both and writes the file.
"""

from apart.report.render import merge_signals, plottable, render_report
from apart.report.sources import report_inputs, write_report

__all__ = ["merge_signals", "plottable", "render_report", "report_inputs", "write_report"]
