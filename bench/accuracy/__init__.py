"""Accuracy beside latency: `python -m bench evaluate --data DIR` (nox -s evaluate).

- `folder`: a labelled folder (one subfolder per class, class index = sorted folder name, the
  ImageNet-val / torchvision ImageFolder convention), its selection (`--limit`) and its hash;
- `evaluation`: top-1 / top-5 of the manifest's artifacts in this host's runtimes and of their
  eager fp32 models on the same images, each image made with the entry's preprocessing;
- `cli`: the command: progress bar, the table (`bench.report.accuracy`), the results store.
"""
