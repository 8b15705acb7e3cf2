#!/usr/bin/env python3
"""Generate (or --check) the Inputs/Outputs tables between
<!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS --> in each module's and
example's README.md, and fail if any variable or output has no description.

Usage: python docs_tables.py [--check] DIR...
Needs python-hcl2 (installed with checkov).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import hcl2

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def clean(value: object) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value)
    text = re.sub(r"^\$\{(.*)\}$", r"\1", text, flags=re.S)
    return text.replace("|", "\\|").replace("\n", " ")


def unwrap(body: dict) -> dict:
    """python-hcl2 (the version checkov pins) wraps every attribute value in
    a one-element list; newer versions do not."""
    out = {}
    for key, value in body.items():
        if key in ("description", "type", "default", "sensitive") and isinstance(value, list) and len(value) == 1:
            value = value[0]
        out[key] = value
    return out


def load(directory: Path) -> tuple[list[dict], list[dict]]:
    variables: list[dict] = []
    outputs: list[dict] = []
    for tf in sorted(directory.glob("*.tf")):
        if tf.name.endswith("_override.tf"):
            continue
        with tf.open(encoding="utf-8") as fh:
            doc = hcl2.load(fh)
        for block in doc.get("variable", []):
            for name, body in block.items():
                variables.append({"name": name, **unwrap(body)})
        for block in doc.get("output", []):
            for name, body in block.items():
                outputs.append({"name": name, **unwrap(body)})
    return variables, outputs


def render(variables: list[dict], outputs: list[dict]) -> str:
    lines = ["## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
    for v in sorted(variables, key=lambda v: ("default" in v, v["name"])):
        has_default = "default" in v
        default = f"`{clean(v['default'])}`" if has_default else "n/a"
        lines.append(
            f"| `{v['name']}` | {clean(v.get('description', ''))} | `{clean(v.get('type', 'any'))}` | {default} | {'no' if has_default else 'yes'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for o in sorted(outputs, key=lambda o: o["name"]):
        lines.append(f"| `{o['name']}` | {clean(o.get('description', ''))} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    dirs = [Path(a) for a in argv if a != "--check"]
    bad = 0
    for directory in dirs:
        variables, outputs = load(directory)
        for item in variables + outputs:
            if not str(item.get("description", "")).strip():
                print(f"{directory}: `{item['name']}` has no description")
                bad += 1
        readme = directory / "README.md"
        text = readme.read_text(encoding="utf-8") if readme.exists() else ""
        if BEGIN not in text or END not in text:
            print(f"{readme}: missing {BEGIN} / {END} markers")
            bad += 1
            continue
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        new = f"{head}{BEGIN}\n{render(variables, outputs)}\n{END}{tail}"
        if new != text:
            if check:
                print(f"{readme}: inputs/outputs tables are stale; run python3 terraform/tests/docs_tables.py {directory}")
                bad += 1
            else:
                readme.write_text(new, encoding="utf-8")
                print(f"updated {readme}")
    print(f"docs: {len(dirs) - min(bad, len(dirs))} passed, {min(bad, len(dirs))} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
