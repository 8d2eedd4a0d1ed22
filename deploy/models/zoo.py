"""`python -m deploy zoo`: our params and MAdds next to the papers', with the deviation.

A figure agrees when it is within 5% of the published one, or within the rounding of the
published figure (0.47M params agree with a printed "0.5").
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from deploy.console import make_console
from deploy.models import paper
from deploy.models.counting import complexity
from deploy.models.families import create_architecture
from deploy.models.spec import ModelSpec, parse_model_names

TOLERANCE = 0.05


def deviation(ours: float, published: float) -> float:
    """Relative deviation of our figure from the published one."""
    return (ours - published) / published


def agrees(ours: float, published: float) -> bool:
    """Within TOLERANCE, or within half a unit of the published figure's last printed digit."""
    exponent = Decimal(str(published)).normalize().as_tuple().exponent
    half_unit = 0.5 * 10.0 ** min(int(exponent), 0)
    return abs(deviation(ours, published)) <= TOLERANCE or abs(ours - published) <= half_unit


@dataclass(frozen=True)
class ZooRow:
    spec: ModelSpec
    params_m: float
    madds_m: float
    published: paper.PaperComplexity | None

    @property
    def params_agree(self) -> bool | None:
        if self.published is None:
            return None
        return agrees(self.params_m, self.published.params_m)

    @property
    def madds_agree(self) -> bool | None:
        if self.published is None:
            return None
        return agrees(self.madds_m, self.published.madds_m)


def zoo_rows(specs: list[ModelSpec]) -> list[ZooRow]:
    rows = []
    for spec in specs:
        cost = complexity(create_architecture(spec.family, spec.width), spec.resolution)
        rows.append(ZooRow(spec, cost.params_m, cost.madds_m, paper.complexity_for(spec.name)))
    return rows


def default_specs() -> list[ModelSpec]:
    """Every configuration the papers publish params/MAdds for."""
    return parse_model_names([entry.model for entry in paper.COMPLEXITY])


def _cell(ours: float, published: float | None, ok: bool | None, digits: int) -> list[str]:
    if published is None:
        return [f"{ours:.{digits}f}", "-", "-"]
    mark = "[green]ok[/]" if ok else "[red]off[/]"
    return [f"{ours:.{digits}f}", f"{published:g}", f"{deviation(ours, published):+.1%} {mark}"]


def render(rows: list[ZooRow], console: Console) -> None:
    table = Table(title="MobileNet zoo: ours vs published (params in M, MAdds in M)")
    for column in ("model", "params", "paper", "dev", "MAdds", "paper", "dev", "source"):
        left = column in ("model", "source")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    notes = []
    for row in rows:
        pub = row.published
        table.add_row(
            row.spec.name,
            *_cell(row.params_m, pub.params_m if pub else None, row.params_agree, 2),
            *_cell(row.madds_m, pub.madds_m if pub else None, row.madds_agree, 1),
            pub.source if pub else "-",
        )
        if pub and pub.note:
            notes.append(f"{row.spec.name}: {pub.note}")
        if pub and pub.implementation_params_m:
            impl = pub.implementation_params_m
            notes.append(
                f"{row.spec.name}: ours {row.params_m:.2f}M vs the implementation's {impl:g}M "
                f"({deviation(row.params_m, impl):+.1%})"
            )
    console.print(table)
    for note in notes:
        console.print(f"note: {note}")
    used = sorted({row.published.source for row in rows if row.published})
    for key in used:
        console.print(f"{key}: {paper.SOURCES[key]}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models", nargs="*", help="model names (default: every published configuration)"
    )


def run(args: argparse.Namespace) -> int:
    specs = parse_model_names(args.models) if args.models else default_specs()
    render(zoo_rows(specs), make_console())
    return 0
