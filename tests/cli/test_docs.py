"""The user docs stand alone in the repository and cannot drift from the code."""

from __future__ import annotations

import re

from cli_helpers import REPO


def test_generated_docs_are_up_to_date() -> None:
    from flyte_cli import docs_gen

    cli = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert cli == docs_gen.cli_reference(), "docs/cli.md is stale: run `make docs`"
    tui = (REPO / "docs" / "tui.md").read_text(encoding="utf-8")
    assert docs_gen.tui_keys() in tui, "the keys in docs/tui.md are stale: run `make docs`"
    assert docs_gen.main(["--check"]) == 0


def test_the_cli_reference_covers_every_command() -> None:
    cli = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for title in ("flyte run", "flyte get io", "flyte logs", "flyte cache clear", "flyte tui"):
        assert f"## `{title}`" in cli
    assert "{RUN}" not in cli and "[[" not in cli


def test_readme_and_docs_link_only_to_files_in_the_repository() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text, page
        if page.name != "INTERNALS.md":  # contributors' notes may name the design contract
            assert "DESIGN.md" not in text, page
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if target.startswith("http"):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_readme_mentions_what_a_new_user_needs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for needed in (
        "--install-completion",
        "flyte deploy",
        "flyte get io",
        "flyte abort",
        "flyte cache clear",
        "flyte run --deployed",
        "flyte.remote.Task.get",
        "docs/README.md",
    ):
        assert needed in readme, needed


def test_make_install_hides_setuptools_editable_notice() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    install = next(line for line in makefile.splitlines() if "-e '.[dev]'" in line)
    assert "--quiet --quiet" in install
