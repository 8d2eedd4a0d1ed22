"""bench-android: exported artifacts -> single-large-core latencies on Android phones over ADB.

For every device (in parallel, one thread each): check it, deploy the runner and the artifacts
under our folder in /data/local/tmp, run each artifact pinned with `taskset <big-core mask>` and
one thread (cooling down between artifacts), store every run, print a table beside the papers.

- `payload`: which runner goes to which ABI (arm64 bundle, or the host build for x86_64)
- `phone`: shell-level steps on one device: facts, thermal snapshots, cooldown, run, kill
- `session`: the orchestration (resume, failures, Ctrl-C) and the rows it returns
- `table`: the printed table
- `cli`: `python -m bench bench-android` (nox -s bench-android)
"""
