"""``python -m problems``: list the named cases of the catalog or write one to a case file.

These commands live here, not in the ``rebalance`` command, because the package never
imports ``problems`` (see ARCHITECTURE.md); the written file is solved with
``rebalance solve FILE``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, help="The problem catalog: named real-data and synthetic cases.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.command("write-case")
def write_case(
    name: str = typer.Argument(..., help="Catalog case name (see `python -m problems cases`)."),
    path: Path = typer.Argument(..., help="Output file, .json or .yaml."),
) -> None:
    """Write a catalog case (real-data or synthetic) to a case file."""
    import yaml

    from optimizer.case_file import case_to_dict
    from problems.catalog import CATALOG, load_case

    if name not in CATALOG:
        typer.echo(f"error: unknown case {name!r}; known: {', '.join(sorted(CATALOG))}", err=True)
        raise typer.Exit(code=2)
    data = case_to_dict(load_case(name))
    text = json.dumps(data, indent=1) if path.suffix == ".json" else yaml.safe_dump(data, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
    typer.echo(f"wrote {path}")


@app.command()
def cases() -> None:
    """List the named cases of the catalog."""
    from problems.catalog import CATALOG

    for name in CATALOG:
        typer.echo(name)


if __name__ == "__main__":  # pragma: no cover
    app()
