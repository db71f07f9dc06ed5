"""Shared helpers for the companion charts (dns01-domains, dns01-registry-gateway,
dns01-registry-janitor): render and lint with Helm's Go SDK, read the binaries' clap flags.

The webhook chart keeps its own helpers in conftest.py; these take the chart as a parameter.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from conftest import REPO, key, load_docs

CHARTS = REPO / "deploy" / "charts"

Obj = dict[str, Any]


@functools.cache
def _render_cached(chart: str, values_json: str, release: str, namespace: str) -> tuple[tuple[str, str], ...]:
    values = json.loads(values_json)
    with helm.Chart.load(CHARTS / chart) as loaded:
        manifests = loaded.render(values, name=release, namespace=namespace, is_install=True)
    return tuple(sorted(manifests.items()))


def render(chart: str, values: dict | None = None, release: str | None = None,
           namespace: str = "platform") -> list[Obj]:
    """Every object of the chart's templates (NOTES.txt left out; crds/ are not templates)."""
    texts = _render_cached(chart, json.dumps(values or {}, sort_keys=True), release or chart, namespace)
    objs: list[Obj] = []
    for path, text in texts:
        if not path.endswith("NOTES.txt"):
            objs.extend(load_docs(text))
    return copy.deepcopy(objs)


def notes(chart: str, values: dict | None = None, namespace: str = "platform") -> str:
    texts = _render_cached(chart, json.dumps(values or {}, sort_keys=True), chart, namespace)
    return next(text for path, text in texts if path.endswith("NOTES.txt"))


def lint(chart: str, values: dict | None) -> list[dict]:
    """Findings of `helm lint --strict` at warning level or above."""
    report = helm.lint(CHARTS / chart, values, strict=True, namespace="platform")
    assert report["total_charts_linted"] == 1
    assert report["errors"] == [], report
    return [m for m in report["messages"] if m["severity"] >= 2]


def example_values(chart: str) -> dict:
    """deploy/examples/values/<chart>.yaml: every optional feature on."""
    return yaml.safe_load((REPO / "deploy" / "examples" / "values" / f"{chart}.yaml").read_text())


def args_of(cont: Obj) -> tuple[str, dict[str, list[str | None]]]:
    """The subcommand and the `--flag[=value]` arguments: a list of values per flag (it may
    repeat), None for a bare switch."""
    args = cont.get("args", [])
    out: dict[str, list[str | None]] = {}
    for arg in args[1:]:
        assert arg.startswith("--"), f"argument {arg!r} is not a --flag"
        name, eq, value = arg[2:].partition("=")
        out.setdefault(name, []).append(value if eq else None)
    return args[0], out


def flag(cont: Obj, name: str) -> str | None:
    """The one value of `--name=value` (None when absent; "" never: see args_of)."""
    values = args_of(cont)[1].get(name)
    if values is None:
        return None
    assert len(values) == 1, f"--{name} given {len(values)} times"
    return values[0]


def one(objs: list[Obj], kind: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"expected exactly one {kind}, found {[key(o) for o in found]}"
    return found[0]


def kinds(objs: list[Obj]) -> set[str]:
    return {o["kind"] for o in objs}


def clap_flags(source: Path, *structs: str) -> dict[str, bool]:
    """The long flags of the named clap structs (or enum variants) in `source`, each with
    whether it takes a value (False for `bool` fields: clap's SetTrue, written bare).

    Reads `#[arg(long ...)] name: Type` the way clap derive names them: `long = "x"` when
    given, else the field name with `-` for `_`. `#[command(flatten)] x: Other` pulls in
    the fields of `Other`.
    """
    text = source.read_text()
    flags: dict[str, bool] = {}
    for struct in structs:
        body = _body(text, struct)
        for attrs, field, ty in re.findall(
            r"#\[arg\(([^\]]*?)\)\]\s*(?:pub\s+)?(\w+):\s*([^,\n]+)", body
        ):
            if not re.search(r"\blong\b", attrs):
                continue
            named = re.search(r'long\s*=\s*"([^"]+)"', attrs)
            name = named.group(1) if named else field.replace("_", "-")
            flags[name] = ty.strip() != "bool"
        for other in re.findall(r"#\[command\(flatten\)\]\s*(?:pub\s+)?\w+:\s*(\w+)", body):
            flags.update(clap_flags(source, other))
    assert flags, f"no clap flags found in {structs} of {source}"
    return flags


def _body(text: str, name: str) -> str:
    """The `{ ... }` body of `struct name`, of the enum variant `name { ... }`, or of the
    struct a tuple variant `name(Box<Args>)` / `name(Args)` holds."""
    found = re.search(rf"(?:struct\s+{name}\b[^{{;(]*|\n\s*{name})\s*\{{", text)
    if not found:
        inner = re.search(rf"\n\s*{name}\s*\(\s*(?:Box\s*<\s*)?(\w+)", text)
        if inner and inner.group(1) != name:
            return _body(text, inner.group(1))
    assert found, f"{name} not found"
    depth, i = 1, found.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[found.end():i - 1]


def subcommands(source: Path, enum: str = "Command") -> set[str]:
    """The subcommand names of a clap `enum Command` (variants in kebab-case)."""
    found = re.search(rf"enum\s+{enum}\s*\{{", source.read_text())
    assert found, f"enum {enum} not found in {source}"
    text = source.read_text()[found.end():]
    depth, i = 1, 0
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    body = text[:i - 1]
    # Top-level variants only: names at the start of a line, at depth 0 of the body.
    names, depth = [], 0
    for line in body.splitlines():
        stripped = line.strip()
        if depth == 0:
            m = re.match(r"([A-Z]\w*)\s*(?:[({,]|$)", stripped)
            if m:
                names.append(re.sub(r"(?<!^)([A-Z])", r"-\1", m.group(1)).lower())
        depth += stripped.count("{") - stripped.count("}")
    return set(names)


def check_args_against_clap(cont: Obj, source: Path, structs: dict[str, tuple[str, ...]]) -> None:
    """Each argument names a flag of its subcommand, bare exactly for bool flags."""
    sub, passed = args_of(cont)
    assert sub in subcommands(source), f"{sub} is not a subcommand of {source}"
    known = clap_flags(source, *structs[sub])
    for name, values in passed.items():
        assert name in known, f"--{name} is not a flag of `{sub}` ({source})"
        for value in values:
            if known[name]:
                assert value, f"--{name} takes a value: write --{name}=<value>"
            else:
                assert value is None, f"--{name} is a switch: write it bare, not --{name}={value}"
