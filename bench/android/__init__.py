"""bench-android: exported artifacts -> single-large-core latencies on Android phones over ADB.

For every device (in parallel, one thread each): check it, deploy the runner and the artifacts
under our folder in /data/local/tmp, run each artifact pinned with `taskset <big-core mask>` and
one thread (cooling down between artifacts), store every run, print a table beside the papers.

- `payload`: which runner goes to which ABI (arm64 bundle, or the host build for x86_64)
- `phone`: shell-level steps on one device: facts, thermal snapshots, cooldown, run, kill
- `app`: the in-app path (install the APK, start it, pull its result)
- `simpleperf`: `simpleperf stat` on a phone (parser; not wired yet)
- `cli`: `python -m bench bench-android` (nox -s bench-android)

The target is `bench.targets.android`; the measuring loop (resume, failures, Ctrl-C) is the
one of every target, `bench.session`; the printed table is `bench.report.sessions`.
"""
