"""Reports of a `bench.compare.Comparison`: every writer, through one registry; and the tables
the measuring commands print.

- `writers`: the registry, format name -> writer (terminal, markdown, csv, html, json); the
  command line (`cli`) offers `--<name> PATH` for every file writer.
- `grids`: the tables as strings, shared by the terminal, Markdown and HTML writers (same
  numbers, same rounding).
- `terminal` (rich), `tabular` (Markdown and CSV), `html` (one page, `plots` embedded),
  `json` (versioned, for dashboards and CI).
- `sessions` (bench-host, bench-android, bench-ssh, bench-ios) and `peers` (bench-peers): the
  tables the measuring commands print, from plain session data (`bench.rows`).
- `accuracy`: the table `python -m bench evaluate` prints (top-1 / top-5 beside eager fp32 and
  the papers), from the store's evaluation records.
- `render_check`: opens an HTML report in headless Chromium and checks that it renders.
"""
