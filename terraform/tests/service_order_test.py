#!/usr/bin/env python3
"""Asserts, on `terraform graph` of the gateway-service module, that the ECS
service is created only after what its first tasks need.

`terraform test` sees values, not ordering: a `depends_on` entry can be
dropped and every run still passes, yet a first deployment whose tasks start
before their network path exists fails, and its circuit breaker has nothing to
roll back to. The graph is the one place Terraform shows that ordering. It is
transitively reduced, so a dependency counts if it is reachable at all.

Usage: terraform graph | python3 terraform/tests/service_order_test.py
Prints one line per check and a closing "N passed, N failed" line; exits 1 on
any failure.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict

SERVICE = "aws_ecs_service.this"

# What a task's start needs (ecs.tf, the service's depends_on), and why.
REQUIRED = {
    "terraform_data.network_path": "interface endpoints, the S3 route and every security group rule",
    "aws_lb_listener.tcp": "the listener: ECS refuses a target group not yet attached to a load balancer",
    "aws_s3_object.catalog": "the model catalog the gateway reads at start",
    "aws_s3_object.tenants": "the tenants document the gateway reads at start",
    "aws_iam_role_policy.execution": "the execution role's image pull and log permissions",
    "aws_iam_role_policy.task": "the task role's Bedrock and quota store permissions",
    "aws_iam_role_policy.task_catalog": "the task role's read of the catalog and tenants objects",
}

EDGE = re.compile(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"')


def dependencies(dot: str) -> dict[str, set[str]]:
    """Node -> the nodes it points at (`A -> B`: A depends on B)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for line in dot.splitlines():
        m = EDGE.match(line)
        if m:
            edges[m.group(1)].add(m.group(2))
    return edges


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def main() -> int:
    dot = sys.stdin.read()
    edges = dependencies(dot)
    if f'"{SERVICE}"' not in dot:
        print(f"FAIL {SERVICE} is not in the graph: is this the gateway-service module's `terraform graph`?")
        return 1
    after = reachable(edges, SERVICE)
    failed = 0
    for node, why in REQUIRED.items():
        if node in after:
            print(f"ok   {SERVICE} waits for {node}")
        else:
            failed += 1
            print(
                f"FAIL {SERVICE} does not depend on {node} ({why}): a first deployment's tasks could start "
                f"without it; add it to the service's depends_on in modules/gateway-service/ecs.tf"
            )
    print(f"{len(REQUIRED) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
