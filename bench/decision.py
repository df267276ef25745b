"""How long one policy decision takes, in process (DESIGN §7: median ≤ 2 µs for the seed's rule).

Run with ``make bench``. Each figure is the median over many batches of the per-call time of
``evaluate(compiled, tool, args)``, loop overhead included.

The last rows are the seed's rules rewritten for mcp-server-kubernetes's ``kubectl_apply``
(``tests/core/policy/cases/kubernetes-manifests.policy.json``): the manifest is read with
``|yaml_all`` once per call, then three conditions walk its documents. Those calls take hundreds
of times longer than the others, so they run in smaller batches.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from mcpwall.core.policy import CompiledPolicy, compile_policy, evaluate, load_policy

CASES = Path(__file__).resolve().parents[1] / "tests" / "core" / "policy" / "cases"
SEED = CASES / "seed.policy.json"
MANIFESTS = CASES / "kubernetes-manifests.policy.json"
BATCH = 10_000
BATCHES = 200
DECODING_BATCH = 100
DECODING_BATCHES = 50
GOAL_US = 2.0


def median_us(
    policy: CompiledPolicy, tool: str, args: object, batch: int = BATCH, batches: int = BATCHES
) -> float:
    """Median per-call time in microseconds over ``batches`` batches of ``batch`` calls."""
    samples = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        for _ in range(batch):
            evaluate(policy, tool, args)
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    return statistics.median(samples)


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout-{index}
  namespace: staging
  labels: {{app: checkout, tier: web}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: checkout}}
  template:
    metadata:
      labels: {{app: checkout}}
    spec:
      containers:
        - name: web
          image: "registry.internal/checkout:1.4.2"
          ports:
            - containerPort: 8080
"""


def deployments(documents: int) -> str:
    """``documents`` Deployments of 19 lines each, in staging, as one YAML stream."""
    return "---\n".join(DEPLOYMENT.format(index=index) for index in range(documents))


def two_hundred_tools() -> CompiledPolicy:
    """A large policy: 200 tools, each with a stacked require, a deny_if and a limit."""
    tools = {
        f"tool_{i:03d}": {
            "require": [
                {
                    "conditions": [
                        {
                            "path": "args.namespace",
                            "op": "in",
                            "value": ["dev", "staging", "sandbox"],
                        },
                        {"path": "args.replicas", "op": "lte", "value": 10},
                    ]
                }
            ],
            "deny_if": [{"conditions": [{"path": "args.force", "op": "eq", "value": True}]}],
            "limits": [{"counter": f"c{i}", "max": 100, "window": "minute", "scope": "grant"}],
        }
        for i in range(200)
    }
    hide = [f"hidden_{i}" for i in range(50)]
    return compile_policy({"version": "1", "default": "deny", "hide": hide, "tools": tools})


def main() -> None:
    seed = compile_policy(load_policy(SEED.read_bytes()))
    big = two_hundred_tools()
    manifest = {"namespace": "dev", "kind": "Deployment", "manifest": "apiVersion: apps/v1"}
    rows = [
        ("seed: delete_pod allowed (staging)", seed, "delete_pod", {"namespace": "staging"}),
        ("seed: delete_pod denied (prod)", seed, "delete_pod", {"namespace": "prod"}),
        ("seed: apply_manifest, 2 stacked conditions", seed, "apply_manifest", manifest),
        ("200-tool policy: tool_150 allowed", big, "tool_150", {"namespace": "dev", "replicas": 3}),
        ("200-tool policy: hidden tool", big, "hidden_25", {}),
    ]
    kubernetes = compile_policy(load_policy(MANIFESTS.read_bytes()))
    decoding_rows = [
        (f"k8s: kubectl_apply, {count} document{'s' * (count > 1)} (allowed)", count)
        for count in (1, 10)
    ]
    print(f"policy decision, median per call over {BATCHES} batches of {BATCH:,} calls")
    results = {}
    for label, policy, tool, args in rows:
        results[label] = median_us(policy, tool, args)
        print(f"  {label:<45} {results[label]:8.2f} µs")
    print(f"… and over {DECODING_BATCHES} batches of {DECODING_BATCH} calls")
    for label, count in decoding_rows:
        args = {"namespace": "staging", "manifest": deployments(count)}
        assert evaluate(kubernetes, "kubectl_apply", args).decision == "allow"
        results[label] = median_us(
            kubernetes, "kubectl_apply", args, DECODING_BATCH, DECODING_BATCHES
        )
        print(f"  {label:<45} {results[label]:8.2f} µs")
    seed_rule = results["seed: delete_pod allowed (staging)"]
    verdict = "meets" if seed_rule <= GOAL_US else "MISSES"
    print(f"seed rule {seed_rule:.2f} µs {verdict} the goal of {GOAL_US} µs")
    print(json.dumps({"decision_median_us": results}))


if __name__ == "__main__":
    main()
