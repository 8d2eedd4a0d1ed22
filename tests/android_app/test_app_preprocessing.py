"""`bench-android --mode app` hands the app the artifact's manifest preprocessing, never a constant:
from the manifest entry through AndroidAppTarget to the intent extra, and the app's echo is
checked. The Kotlin figures of the synthetic input are checked against a Python port."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from bench.android import app
from bench.errors import ResultSchemaError
from bench.runner.run import RunnerConfig
from bench.store import ArtifactRecord
from bench.targets.android import AndroidAppTarget, Options
from bench.targets.base import Artifact, Variant
from deploy.artifacts.preprocessing import Preprocessing, imagenet
from tests.android_app.synthetic import preprocessed_noise
from tests.android_app.test_android_app import ScriptedPhone, app_result
from tests.export.helpers import make_entry

ROOT = Path(__file__).resolve().parents[2]
#: Not ImageNet's: a constant in the Python side or the app could not produce these figures.
DIGITS = Preprocessing(
    name="digits",
    resize=64,
    crop=64,
    mean=(0.305496, 0.305496, 0.305496),
    std=(0.324677, 0.324677, 0.324677),
    channel_order="LLL",
)


def extras_of(command: str) -> dict[tuple[str, str], str]:
    words = shlex.split(command)
    return {(words[i], words[i + 1]): words[i + 2] for i in range(6, len(words), 3)}


class EchoingPhone(ScriptedPhone):
    """The scripted phone whose 'app' echoes the `preprocessing` extra it was started with, as
    BenchActivity does (`echo=False`: an app that ignores it, e.g. one older than this tool)."""

    def __init__(self, tmp: Path, *, echo: bool = True, **kwargs: object) -> None:
        super().__init__(tmp, **kwargs)  # type: ignore[arg-type]
        self.echo = echo
        self.extras: dict[tuple[str, str], str] = {}

    def shell(self, command, *, timeout_s=None, on_output=None, check=False):  # type: ignore[no-untyped-def]
        if command.startswith("am start"):
            self.extras = extras_of(command)
        result = super().shell(command, timeout_s=timeout_s, on_output=on_output, check=check)
        config = app.AppRunConfig()
        if result.output.startswith("RESULT") and self.echo:
            sent = self.extras.get(("--es", "preprocessing"))
            document = app_result(self.pushed_sha)
            document["config"]["preprocessing"] = json.loads(sent) if sent else None
            self.files[config.result_path] = json.dumps(document).encode()
        return result


def manifest_artifact(tmp_path: Path, preprocessing: Preprocessing) -> Artifact:
    """An artifact as bench-android selects it: a record made from its manifest entry."""
    entry = make_entry(
        tmp_path,
        "m.pte",
        b"a program",
        input_shape=[1, 3, preprocessing.crop, preprocessing.crop],
        preprocessing=preprocessing.to_dict(),
    )
    return Artifact(ArtifactRecord.from_manifest_entry(entry), tmp_path / "m.pte")


def measure_in_app(tmp_path: Path, artifact: Artifact, phone: ScriptedPhone):  # type: ignore[no-untyped-def]
    apk = tmp_path / "app-release.apk"
    apk.write_bytes(b"PK fake apk")
    target = AndroidAppTarget("scripted", Options(apk=apk, timeout_s=30))
    target.device = phone  # type: ignore[assignment]
    target.say = lambda message: None  # type: ignore[method-assign]
    config = RunnerConfig(warmup=2, iterations=3)
    variant = target.variants(config)[0]
    return target.measure(artifact, Variant(variant.config, "app", variant.key), "m")


@pytest.mark.parametrize("preprocessing", [DIGITS, imagenet(96)], ids=["digits", "imagenet"])
def test_the_app_is_given_the_manifest_preprocessing(
    tmp_path: Path, preprocessing: Preprocessing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.time, "sleep", lambda s: None)
    artifact = manifest_artifact(tmp_path, preprocessing)
    phone = EchoingPhone(tmp_path)
    measured = measure_in_app(tmp_path, artifact, phone)
    sent = phone.extras[("--es", "preprocessing")]
    assert Preprocessing.from_dict(json.loads(sent)) == preprocessing
    assert phone.extras[("--es", "shape")] == f"1,3,{preprocessing.crop},{preprocessing.crop}"
    assert measured.result.config["preprocessing"] == preprocessing.to_dict()


def test_an_app_that_ignores_the_preprocessing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.time, "sleep", lambda s: None)
    artifact = manifest_artifact(tmp_path, DIGITS)
    with pytest.raises(ResultSchemaError, match="digits preprocessing.*rebuild android_app"):
        measure_in_app(tmp_path, artifact, EchoingPhone(tmp_path, echo=False))


def test_an_artifact_without_a_manifest_gets_no_preprocessing(tmp_path: Path) -> None:
    record = ArtifactRecord("a" * 64, "unlisted:m.pte", "unlisted")
    assert record.preprocessing is None
    command = app.start_command("/data/local/tmp/m.pte", app.AppRunConfig())
    assert ("--es", "preprocessing") not in extras_of(command)


def test_the_extra_is_one_quoted_json_line() -> None:
    config = app.AppRunConfig(input_shape=(1, 3, 64, 64), preprocessing=DIGITS)
    command = app.start_command("/data/local/tmp/m.pte", config)
    assert "\n" not in command
    sent = extras_of(command)[("--es", "preprocessing")]
    assert DIGITS.same_as(json.loads(sent)) and sent == DIGITS.to_json()


def test_the_echo_check_allows_float32_rounding_only() -> None:
    sha = "c" * 64
    echoed = {**DIGITS.to_dict(), "mean": [0.30549600720405579] * 3}  # float32 and back
    document = app_result(sha)
    document["config"]["preprocessing"] = echoed
    app.parse_app_result(json.dumps(document), expected_sha256=sha, preprocessing=DIGITS)
    document["config"]["preprocessing"] = {**DIGITS.to_dict(), "mean": [0.31] * 3}
    with pytest.raises(ResultSchemaError, match="did not make its input"):
        app.parse_app_result(json.dumps(document), expected_sha256=sha, preprocessing=DIGITS)


def _kotlin_floats(test_name: str) -> list[float]:
    text = (
        ROOT / "android_app/app/src/test/java/org/mobilenetdeploy/bench/BenchCoreTest.kt"
    ).read_text()
    body = text[text.index(f"fun {test_name}") :]
    body = body[: body.index("@Test")]
    return [float(x) for x in re.findall(r"-?\d\.\d{8,}", body)]


def test_kotlin_preprocessed_noise_figures_match_the_python_port() -> None:
    figures = _kotlin_floats("preprocessedNoiseFollowsTheRecipe")
    rgb = preprocessed_noise((1, 3, 2, 2), 0, imagenet(2)).reshape(-1)[:5]
    grey = preprocessed_noise((1, 3, 2, 2), 0, DIGITS).reshape(-1)[:4]
    assert figures == pytest.approx([*rgb.tolist(), *grey.tolist()], abs=1e-7)
    kotlin = (ROOT / "android_app/app/src/main/java/org/mobilenetdeploy/bench").glob("*.kt")
    source = "\n".join(path.read_text() for path in kotlin)
    assert 'getStringExtra("preprocessing")' in source and "preprocessedNoise(" in source
    assert '.put("preprocessing"' in source
