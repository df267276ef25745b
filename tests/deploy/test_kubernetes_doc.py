"""docs/kubernetes.md's snippets against the chart and the CLI they talk about: the key it
makes is one mcpwall accepts, the Secret it creates has the keys the chart reads, every
``helm`` line names files that exist and renders, every ``kubectl`` line names objects the
chart makes and ``mcpwall`` commands that exist, its values snippet renders, and its probe
table gives the chart's timings. (Its ``mcpwall`` lines that need no cluster are run by
tests/docs/test_commands.py; nothing here needs a cluster.)"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import yaml

from mcpwall.adapters.secrets import load_secret_key
from mcpwall.cli import cli
from tests.docs.test_pages import FENCE
from tests.tools.scripts import load_tool

render_chart = load_tool("render_chart")
REPO = render_chart.REPO
PAGE = (REPO / "docs" / "kubernetes.md").read_text(encoding="utf-8")
VALUES = yaml.safe_load((render_chart.CHART / "values.yaml").read_text(encoding="utf-8"))


def commands(program: str) -> list[list[str]]:
    """Each ``$ PROGRAM …`` line of the page's console blocks, split as a shell would."""
    lines = [
        line[2:]
        for match in FENCE.finditer(PAGE)
        if match.group(1) == "console"
        for line in match.group(2).splitlines()
        if line.startswith(f"$ {program} ")
    ]
    assert lines, f"no {program} command on the page"
    return [shlex.split(line.partition(" > ")[0]) for line in lines]


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def rendered(values: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for template, text in render_chart.render(values).items():
        if not template.endswith("NOTES.txt"):
            for doc in yaml.safe_load_all(text):
                if doc:
                    objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def test_the_key_it_makes_is_one_mcpwall_accepts(tmp_path: Path) -> None:
    [python] = commands("python3")
    made = subprocess.run(
        [sys.executable, *python[1:]], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    key = load_secret_key(tmp_path, {"MCPWALL_SECRET_KEY": made})
    assert len(key.key) == 32
    assert not list(tmp_path.iterdir())  # from the variable, not a key file


def test_the_secret_it_creates_has_the_keys_the_chart_reads() -> None:
    production = yaml.safe_load(
        (render_chart.EXAMPLES / "values-production.yaml").read_text(encoding="utf-8")
    )
    creates = {
        words[words.index("generic") + 1]: words
        for words in commands("kubectl")
        if "secret" in words
    }
    create = creates.pop(production["existingSecret"])
    keys = {
        word.split("=", 2)[1]
        for word in create
        if word.startswith(("--from-literal=", "--from-file="))
    }
    assert keys == set(VALUES["existingSecretKeys"].values())
    # The other: the metrics token, under the name and key the ServiceMonitor's line gives.
    [(name, metrics)] = creates.items()
    assert metrics[-1] == f"--from-literal={VALUES['serviceMonitor']['tokenSecret']['key']}=TOKEN"
    [upgrade] = [words for words in commands("helm") if "serviceMonitor.enabled=true" in words]
    assert f"serviceMonitor.tokenSecret.name={name}" in upgrade
    assert production["redisFromExistingSecret"] is True


def test_every_helm_line_names_files_that_exist_and_renders() -> None:
    for words in commands("helm"):
        assert words[1] in ("install", "upgrade")
        release, chart = words[2], REPO / words[3]
        assert (chart / "Chart.yaml").exists()
        values_file = REPO / option(words, "-f")
        values = yaml.safe_load(values_file.read_text(encoding="utf-8"))
        objects = render_chart.render(values)  # refused values would raise
        assert release == render_chart.RELEASE
        assert option(words, "-n") == render_chart.NAMESPACE
        assert any("Deployment" in text for text in objects.values())


def test_every_kubectl_line_names_what_the_chart_makes_and_commands_that_exist() -> None:
    objects = rendered(
        yaml.safe_load((render_chart.EXAMPLES / "values-production.yaml").read_text())
    )
    kinds = {"deploy": "Deployment", "svc": "Service", "job": "Job"}
    checked = 0
    for words in commands("kubectl"):
        for word in words:
            found = re.fullmatch(r"(deploy|svc|job)/([a-z0-9-]+)", word)
            if found:
                assert (kinds[found[1]], found[2]) in objects, word
                checked += 1
        if "--" in words and words[words.index("--") + 1] == "mcpwall":
            path = words[words.index("--") + 2 :]
            command: click.Command = cli
            for name in path:
                if name.startswith("-") or not isinstance(command, click.Group):
                    break
                sub = command.get_command(click.Context(command), name)
                assert sub is not None, f"mcpwall has no command {name}: {' '.join(words)}"
                command = sub
            checked += 1
    assert checked >= 4
    # The migration Job's logs, which the upgrade section points at.
    assert "job/mcpwall-migrate" in PAGE
    assert ("Job", "mcpwall-migrate") in objects


def test_its_values_snippet_renders_into_valid_objects() -> None:
    [snippet] = [m.group(2) for m in FENCE.finditer(PAGE) if m.group(1) == "yaml"]
    for document in rendered(yaml.safe_load(snippet)).values():
        kubernetes_validate.validate(document, "1.30.0", strict=True)


def test_its_probe_table_gives_the_charts_timings() -> None:
    probes = VALUES["probes"]
    rows = {
        row.split("|")[1].strip(): row.split("|")[4].strip()
        for row in PAGE.splitlines()
        if row.startswith(("| startup", "| liveness", "| readiness"))
    }
    startup = probes["startup"]
    assert rows["startup"] == (
        f"every {startup['periodSeconds']} s, for up to "
        f"{startup['periodSeconds'] * startup['failureThreshold']} s"
    )
    for name in ("liveness", "readiness"):
        probe = probes[name]
        assert rows[name] == (
            f"every {probe['periodSeconds']} s, {probe['timeoutSeconds']} s timeout, "
            f"{probe['failureThreshold']} failures"
        )


def test_it_is_the_guide_to_install_upgrade_rotate_keys_back_up_and_scale_out() -> None:
    headings = re.findall(r"^## (.+)$", PAGE, flags=re.MULTILINE)
    for wanted in (
        "Installing the chart",
        "Upgrading",
        "Rotating keys",
        "Backing up",
        "Scaling out",
    ):
        assert wanted in headings
    operations = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = operations.split("\n## Kubernetes\n", 1)[1].split("\n## ", 1)[0]
    assert "(kubernetes.md)" in section
