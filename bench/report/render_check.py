"""Does the HTML report render? Open it in headless Chromium and look.

Two looks: the DOM after the load event (the page's inline script writes how many images
decoded onto <body>), and a screenshot whose pixels must not be blank and must contain the
plots' colours. `python -m bench.report.render_check report.html [shot.png]` prints the verdict
and exits 1 when the page does not render.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.errors import CompareError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WINDOW = (1280, 2000)
# matplotlib's first colour (#1f77b4): the bars / markers of the first device.
PLOT_BLUE = (31, 119, 180)


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@dataclass(frozen=True)
class RenderCheck:
    images: int
    images_loaded: int
    images_broken: int
    screenshot: Path
    width: int
    height: int
    non_white_fraction: float
    plot_pixels: int
    colours: int

    @property
    def ok(self) -> bool:
        return (
            self.images > 0
            and self.images_loaded == self.images
            and self.images_broken == 0
            and self.non_white_fraction > 0.02
            and self.plot_pixels > 500
            and self.colours > 50
        )

    def describe(self) -> str:
        verdict = "renders" if self.ok else "DOES NOT render"
        return (
            f"{verdict}: {self.images_loaded}/{self.images} images decoded, "
            f"{self.images_broken} broken; screenshot {self.width}x{self.height}, "
            f"{self.non_white_fraction:.0%} non-white, {self.plot_pixels} plot-blue pixels, "
            f"{self.colours} colours"
        )


def _chromium(binary: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        argv = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise CompareError(
                f"chromium did not finish within {timeout:g}s; is the page loading something?"
            ) from None


def check_render(html: Path, screenshot: Path, *, timeout: float = 60.0) -> RenderCheck:
    """Load `html` in headless Chromium; raise CompareError when Chromium is missing."""
    import numpy as np
    from PIL import Image

    binary = find_chromium()
    if binary is None:
        raise CompareError("chromium is not installed; apt-get install chromium")
    url = html.resolve().as_uri()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)
    width, height = WINDOW
    shot_args = (f"--screenshot={screenshot.resolve()}", f"--window-size={width},{height}", url)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two browsers at once: half the wait
        dom_job = pool.submit(_chromium, binary, "--dump-dom", url, timeout=timeout)
        shot_job = pool.submit(_chromium, binary, *shot_args, timeout=timeout)
        dom = dom_job.result().stdout
        shot_job.result()
    body = re.search(r"<body[^>]*>", dom)
    attrs = dict(re.findall(r'(data-images-\w+)="(\d+)"', body.group(0) if body else ""))
    images = len(re.findall(r"<img\b", dom))
    if not screenshot.exists():
        raise CompareError(f"chromium wrote no screenshot of {html}")
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    non_white = float((pixels.min(axis=2) < 245).mean())
    blue = int((np.abs(pixels - np.array(PLOT_BLUE)).max(axis=2) <= 12).sum())
    coarse = pixels // 8  # 32 levels per channel, packed into one integer per pixel
    colours = len(np.unique((coarse[..., 0] << 10) | (coarse[..., 1] << 5) | coarse[..., 2]))
    return RenderCheck(
        images=images,
        images_loaded=int(attrs.get("data-images-loaded", -1)),
        images_broken=int(attrs.get("data-images-broken", -1)),
        screenshot=screenshot,
        width=pixels.shape[1],
        height=pixels.shape[0],
        non_white_fraction=non_white,
        plot_pixels=blue,
        colours=colours,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2:
        print("usage: python -m bench.report.render_check report.html [screenshot.png]")
        return 2
    html = Path(args[0])
    shot = Path(args[1]) if len(args) > 1 else html.with_suffix(".png")
    try:
        result = check_render(html, shot)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{html}: {result.describe()} ({shot})")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
