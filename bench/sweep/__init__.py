"""`python -m bench sweep` (nox -s sweep): which MobileNet for this device and latency budget?

The papers' width x resolution grid of each family (`grid`, from `deploy.models.paper`) is
exported (cached and incremental: `deploy.export.pipeline.export_many`), measured by the one
session loop into the one store (`bench.session.run_session`: same rounds, resumable), and put
on a latency / top-1 Pareto frontier per recipe (`frontier`) with the most accurate model
within the budget. `--quick` measures the corners and the diagonal of each family's grid first,
then the neighbours of frontier points that could still change it (`plan`). The answer is a
terminal table and a self-contained HTML page (`report`).

- grid.py      the published points and their grid geometry (corners, diagonal, neighbours)
- accuracy.py  the top-1 of a point: measured (`nox -s evaluate`) or the papers', marked
- frontier.py  Pareto frontier and the recommendation for a budget (pure)
- plan.py      what to export and measure (full or quick), and the time estimate
- run.py       export + measure through the session loop, results read back from the store
- report.py    the terminal table and the HTML page
- cli.py       the command
"""
