#!/usr/bin/env python3
"""Static assertions on server/Dockerfile (base images cannot be pulled here,
so the image is not built in CI; this checks what its final stage must be).

Usage: python3 terraform/tests/dockerfile_test.py [path/to/Dockerfile]
Prints one line per check and a closing "N passed, N failed" line; exits 1 on
any failure.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BINARY = "/usr/local/bin/bedrock-gateway"
PORT = "50051"
HEALTHCHECK = [BINARY, "healthcheck", "--addr", f"127.0.0.1:{PORT}"]
MINIMAL_BASES = (
    re.compile(r"^scratch$"),
    re.compile(r"^gcr\.io/distroless/(static|cc|base)[a-z0-9-]*(:[\w.-]+)?@sha256:[0-9a-f]{64}$"),
    re.compile(r"^cgr\.dev/chainguard/(static|glibc-dynamic)(:[\w.-]+)?@sha256:[0-9a-f]{64}$"),
)


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    platform: str | None = None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines, drop comments and blank lines."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf += stripped[:-1].rstrip() + " "
            continue
        buf += stripped
        out.append((start, buf))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, content in logical_lines(text):
        keyword, _, args = content.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            flags = [p for p in args.split() if p.startswith("--")]
            parts = [p for p in args.split() if not p.startswith("--")]
            base = parts[0]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            platform = next((f.split("=", 1)[1] for f in flags if f.startswith("--platform=")), None)
            stages.append(Stage(base=base, name=name, platform=platform))
        elif not stages and keyword == "ARG":
            key, _, default = args.partition("=")
            global_args[key.strip()] = default.strip().strip('"')
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args, line))
    return global_args, stages


def resolve(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), value)


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def main() -> int:
    dockerfile = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "server" / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    args, stages = parse(text)
    final = stages[-1] if stages else Stage(base="", name=None)
    final_base = resolve(final.base, args)
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        results.append((name, bool(ok), detail))

    check("multi-stage build", len(stages) >= 2, f"{len(stages)} stage(s)")
    builders = [s for s in stages[:-1] if any("cargo build" in i.args for i in s.all("RUN"))]
    check(
        "a build stage runs `cargo build --release --locked --no-default-features -p bedrock-gateway`"
        " (production binaries carry no Bedrock emulator)",
        any(
            all(flag in i.args for flag in ("--release", "--locked", "--no-default-features", "-p bedrock-gateway"))
            for s in builders
            for i in s.all("RUN")
        ),
    )
    check(
        "final stage is a minimal image (distroless/scratch) pinned by digest",
        any(p.match(final_base) for p in MINIMAL_BASES),
        final_base,
    )
    check("final stage runs no RUN instruction (nothing needs a shell)", not final.all("RUN"))
    check("no SHELL instruction", not any(s.all("SHELL") for s in stages))

    copies = final.all("COPY")
    check(
        "final stage copies only the gateway binary from the build stage",
        len(copies) == 1 and "--from=" in copies[0].args and copies[0].args.rstrip().endswith(BINARY),
        "; ".join(c.args for c in copies),
    )
    check("final stage adds nothing else (no ADD)", not final.all("ADD"))

    users = final.all("USER")
    user = users[-1].args if users else ""
    uid = user.split(":")[0]
    check(
        "final stage USER is non-root",
        bool(users) and uid not in ("", "0", "root") and (uid == "nonroot" or uid.isdigit()),
        user or "no USER",
    )

    entry = [exec_form(i.args) for i in final.all("ENTRYPOINT")]
    check(
        "ENTRYPOINT is exec form running the binary (no shell)",
        len(entry) == 1 and entry[0] is not None and entry[0][:1] == [BINARY],
        str(entry),
    )
    cmds = [exec_form(i.args) for i in final.all("CMD")]
    check("CMD, if any, is exec form", all(c is not None for c in cmds), str(cmds))

    hc = final.all("HEALTHCHECK")
    hc_cmd = None
    if hc:
        match = re.search(r"\bCMD\s+(\[.*\])\s*$", hc[-1].args)
        hc_cmd = exec_form(match.group(1)) if match else None
    check(
        "HEALTHCHECK runs the binary's own healthcheck in exec form",
        hc_cmd == HEALTHCHECK,
        str(hc_cmd),
    )

    exposed = [p.split("/")[0] for i in final.all("EXPOSE") for p in i.args.split()]
    check(f"EXPOSE {PORT}", PORT in exposed, str(exposed))

    # The binary must be built for the task's CPU architecture: no stage pinned to one platform,
    # the documented `--platform` is the module's default cpu_architecture, and each
    # architecture has its own cargo target cache.
    check(
        "no stage is pinned to one platform (the image is built for `--platform`)",
        all(s.platform in (None, "$TARGETPLATFORM", "${TARGETPLATFORM}") for s in stages),
        str([s.platform for s in stages]),
    )
    variables = (REPO / "terraform" / "modules" / "gateway-service" / "variables.tf").read_text(encoding="utf-8")
    arch = re.search(r'variable "cpu_architecture" \{.*?default\s*=\s*"([A-Z0-9_]+)"', variables, re.S)
    documented = re.findall(r"--platform\s+(linux/[a-z0-9]+)\b", text)
    wanted = {"ARM64": "linux/arm64", "X86_64": "linux/amd64"}.get(arch.group(1) if arch else "")
    check(
        "the documented build platform is the module's default cpu_architecture",
        bool(documented) and wanted is not None and all(d == wanted for d in documented),
        f"documented {documented}, module default {arch.group(1) if arch else None}",
    )
    cargo_runs = [i for st in builders for i in st.all("RUN") if "cargo build" in i.args]
    check(
        "the cargo target cache is per architecture (TARGETARCH in its id)",
        any(re.search(r"type=cache,target=/src/target,[^ ]*id=[^ ]*\$\{?TARGETARCH", i.args) for i in cargo_runs),
    )

    # The ECS task definition must use the same health check as the image.
    ecs = (REPO / "terraform" / "modules" / "gateway-service" / "main.tf").read_text(encoding="utf-8")
    check(
        "ECS task health check runs the same binary command",
        f'["CMD", "{BINARY}", "healthcheck", "--addr", "127.0.0.1:${{var.grpc_port}}"]' in ecs,
    )

    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    check(
        ".dockerignore keeps target/ and .git/ out of the build context",
        any(p.rstrip("/").endswith("target") for p in ignore) and any(p.rstrip("/") == ".git" for p in ignore),
    )

    failed = 0
    for name, ok, detail in results:
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + (f"  [{detail}]" if detail and not ok else ""))
    print(f"dockerfile: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
