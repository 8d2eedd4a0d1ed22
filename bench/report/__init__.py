"""Reports of a `bench.compare.Comparison`: every writer, through one registry.

- `writers`: the registry, format name -> writer (terminal, markdown, csv, html, json); the
  command line (`cli`) offers `--<name> PATH` for every file writer.
- `grids`: the tables as strings, shared by the terminal, Markdown and HTML writers (same
  numbers, same rounding).
- `terminal` (rich), `tabular` (Markdown and CSV), `html` (one page, `plots` embedded),
  `json` (versioned, for dashboards and CI).
- `render_check`: opens an HTML report in headless Chromium and checks that it renders.
"""
