"""``python -m problems``: list the named cases of the catalog or write one to a case file.

These commands live here, not in the ``rebalance`` command, because the package never
imports ``problems`` (see ARCHITECTURE.md); the written file is solved with
``rebalance solve FILE``.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, help="The problem catalog: named real-data and synthetic cases.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.command("write-case")
def write_case(
    name: str = typer.Argument(..., help="Catalog case name (see `python -m problems cases`)."),
    path: Path = typer.Argument(..., help="Output file, .json, .yaml or .yml."),
) -> None:
    """Write a catalog case (real-data or synthetic) to a case file. Exit 2 on a bad name or path."""
    import yaml

    from optimizer.case_file import SUFFIXES, case_to_dict
    from optimizer.files import write_text
    from problems.catalog import CATALOG, load_case

    if name not in CATALOG:
        close = difflib.get_close_matches(name, list(CATALOG), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        _refuse(f"{name!r} is not a catalog case; {hint}`python -m problems cases` lists them")
    if path.is_dir():
        _refuse(f"{str(path)!r} is a folder; give a file name")
    if path.suffix.lower() not in SUFFIXES:
        _refuse(f"{path.name!r} has suffix {path.suffix!r}; use .json, .yaml or .yml")
    data = case_to_dict(load_case(name))
    text = json.dumps(data, indent=1) if path.suffix.lower() == ".json" else yaml.safe_dump(data, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    typer.echo(f"wrote {path}")


def _refuse(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def cases() -> None:
    """List the named cases of the catalog."""
    from problems.catalog import CATALOG

    for name in CATALOG:
        typer.echo(name)


if __name__ == "__main__":  # pragma: no cover
    app()
