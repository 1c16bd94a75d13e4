"""Static analysis of the product code, as policy: bandit and ruff's security rules (``S``) report nothing,
and every suppression says why.

The product code is what ships: ``crm`` (the sandboxes included), ``data``, ``service``, ``ui``, ``views``
and ``app.py``; tests and benchmarks are not scanned (pyproject.toml excludes them). A finding is either
fixed or suppressed on its line with ``# nosec Bxxx`` (bandit) / ``# noqa: Sxxx`` (ruff) and a reason: on
the same line, or in the comment directly above the statement it sits in.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("crm", "data", "service", "ui", "views", "app.py")
TIMEOUT = 120  # seconds: only a hung process gets near it
SUPPRESSION = re.compile(r"#\s*(nosec\b[^#]*|noqa:\s*[A-Z0-9, ]*\bS\d+[^#]*)", re.IGNORECASE)
CODES = re.compile(r"^(nosec|noqa:)[\s,]*((?:[A-Z]+\d+[\s,]*)*)", re.IGNORECASE)
WORDS = re.compile(r"[A-Za-z]{3,}")


def product_files() -> Iterator[Path]:
    for name in PRODUCT:
        path = REPO / name
        if path.is_file():
            yield path
        else:
            yield from sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_bandit_finds_nothing_in_the_product_code() -> None:
    result = run(tool("bandit"), "-q", "-c", "pyproject.toml", "-r", *PRODUCT)

    findings = re.findall(r"Location: (\S+)", result.stdout)
    assert (result.returncode, findings) == (0, []), result.stdout[-3000:]


def test_ruff_security_rules_find_nothing() -> None:
    result = run(tool("ruff"), "check", "--select", "S", "--output-format", "concise", *PRODUCT)

    assert result.returncode == 0, result.stdout[-3000:]


def comment_above(lines: list[str], statement_start: int) -> str:
    """The comment lines directly above line ``statement_start`` (1-based), joined."""
    found: list[str] = []
    index = statement_start - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        found.append(lines[index].strip())
        index -= 1
    return " ".join(reversed(found))


def unexplained(path: Path) -> Iterator[str]:
    """``file:line`` of every nosec / noqa: S… suppression without a reason."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    starts: dict[int, int] = {}  # line -> first line of the innermost statement holding it
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.stmt) and node.end_lineno is not None:
            for line in range(node.lineno, node.end_lineno + 1):
                if line not in starts or node.lineno > starts[line]:
                    starts[line] = node.lineno
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT or not SUPPRESSION.search(token.string):
            continue
        line = token.start[0]
        reason = token.string
        for marker in SUPPRESSION.finditer(token.string):
            codes = CODES.match(marker.group(1))
            reason = reason.replace(marker.group(0), "#" + marker.group(1)[codes.end() if codes else 0 :])
        said = WORDS.findall(reason) or WORDS.findall(comment_above(lines, starts.get(line, line)))
        if not said:
            yield f"{path.relative_to(REPO)}:{line}: {token.string.strip()}"


def test_every_security_suppression_in_the_product_says_why() -> None:
    files = list(product_files())
    assert len(files) > 50  # the whole product was read

    missing = [where for path in files for where in unexplained(path)]

    assert missing == []


def test_the_suppression_check_tells_a_reason_from_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import random\n"
        "a = random.random()  # noqa: S311  # nosec B311 - jitter, not security\n"
        "b = random.random()  # jitter only  # nosec B311\n"
        "# Labels of the form, not passwords.\n"
        "C = {\n"
        '    "password": "password",  # nosec B105\n'
        "}\n"
        "assert a  # noqa: S101\n"
        "d = 1  # noqa: E501\n",
        encoding="utf-8",
    )

    assert list(unexplained(sample)) == ["sample.py:8: # noqa: S101"]
