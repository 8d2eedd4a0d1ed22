"""Re-run every valid .pte of a manifest in the stock ExecuTorch runtime; compare with the record.

    .nox/ml/bin/python -m deploy.export.verify [artifacts/manifest.json]

For each valid ExecuTorch entry: the file's sha256 is checked, the held-out images it was
validated on are rebuilt with the entry's preprocessing (their sha256 must match the entry's),
the program is loaded with
`executorch.runtime.Runtime` and run, and the outputs' sha256 must equal the one recorded by
the pipeline's validation. Exit 0 when every artifact reproduces, 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from deploy import quiet
from deploy.artifacts.manifest import Manifest, ManifestEntry, verify_artifact


def image_folder(entry: ManifestEntry) -> Path | None:
    folder = entry.fidelity.get("images", {}).get("folder") or (entry.calibration or {}).get(
        "folder", "skimage"
    )
    return None if folder in (None, "skimage") else Path(folder)


def reproduce(manifest: Manifest, entry: ManifestEntry) -> str:
    """'' when the stock runtime reproduces the recorded outputs, else why not."""
    from deploy.export.pipeline import prepare_images
    from deploy.export.validation import outputs_digest, run_pte

    path = verify_artifact(manifest, entry)
    _, held_out = prepare_images(image_folder(entry), entry.input_preprocessing)
    if held_out.sha256 != entry.fidelity.get("images", {}).get("sha256"):
        return "the held-out images differ from those it was validated on"
    digest = outputs_digest(run_pte(path, held_out.tensor))
    if digest != entry.fidelity.get("outputs_sha256"):
        return f"outputs sha256 {digest[:12]} differs from the recorded one"
    return ""


def main(argv: list[str] | None = None) -> int:
    with quiet.installed():  # before reproduce() imports torch and ExecuTorch
        return _verify_all(sys.argv[1:] if argv is None else argv)


def _verify_all(args: list[str]) -> int:
    manifest = Manifest.load(Path(args[0] if args else "artifacts/manifest.json"))
    entries = [e for e in manifest.valid_entries() if str(e.file).endswith(".pte")]
    entries = [e for e in entries if e.recipe.get("backend") == "xnnpack"]
    failed = 0
    for entry in entries:
        problem = reproduce(manifest, entry)
        failed += bool(problem)
        verdict = problem or "stock Runtime outputs == pipeline validation outputs"
        print(f"{entry.model_name:28} {entry.recipe_name:14} {verdict}", flush=True)
    print(f"{len(entries) - failed}/{len(entries)} artifacts reproduce")
    return 1 if failed or not entries else 0


if __name__ == "__main__":
    sys.exit(main())
