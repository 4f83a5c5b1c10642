"""The documentation site builds without a warning, every option of every tool is on its page,
and every tool's usage line names the command the user typed."""

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "NO_MKDOCS_2_WARNING": "1"}
# Commands whose pages come with their tools' current work; every other command needs a page.
PENDING = set()


def _gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", os.path.join(ROOT, "docs", "gen_cli.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_cli = _gen_cli()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built as CI and a contributor build it: ``mkdocs build --strict``."""
    assert importlib.util.find_spec("mkdocs"), "the site needs pip install -e '.[docs]' (the test extra includes it)"
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                            env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert "WARNING" not in result.stderr, result.stderr
    return out


def _page(site, path):
    with open(os.path.join(site, path, "index.html"), encoding="utf-8") as f:
        return f.read()


def test_site_builds_with_every_page_and_api_reference(site):
    for path in ("", "graphs", "backbones", "weights", "training", "performance", "tools", "api"):
        assert os.path.isfile(os.path.join(site, path, "index.html")), path
    api = _page(site, "api/inception_keras")
    # the docstrings griffe read from the sources, the decorator-given ones of models.py included
    for name in ("create_inception_v4", "create_inception_resnet_v2", "create_model", "load_preset",
                 "save_preset", "decode_predictions"):
        assert f'id="inception_keras.{name}"' in api, name
    assert "1152 and 2144" in api  # create_inception_resnet_v2's docstring, set by @_doc
    assert ":func:" not in api and ":class:" not in api  # Sphinx roles dropped by the hook
    # the drawings are served from architectures/, where the plot tool writes them
    assert os.path.isfile(os.path.join(site, "architectures", "blocks", "inception_v4", "inception_a.png"))


def test_every_installed_command_has_a_page_with_its_generated_options(site):
    documented = {}  # command -> its page
    for name in sorted(os.listdir(os.path.join(ROOT, "docs", "tools"))):
        with open(os.path.join(ROOT, "docs", "tools", name), encoding="utf-8") as f:
            documented.update(dict.fromkeys(gen_cli.MARKER.findall(f.read()), name.removesuffix(".md")))
    missing = set(gen_cli.commands()) - set(documented) - PENDING
    assert not missing, f"commands without a page in docs/tools/ (add one with '<!-- cli: NAME -->'): {missing}"
    for command, name in documented.items():
        page = _page(site, f"tools/{name}")
        for option in _options(command):
            assert f"<code>{option}" in page, (command, option)


def _options(command):
    """The first spelling of every option ``--help`` shows."""
    import argparse

    parser = gen_cli.parser_for(command)
    return [action.option_strings[0] for action in parser._actions
            if action.option_strings and action.help is not argparse.SUPPRESS
            and not isinstance(action, argparse._HelpAction)]


@pytest.mark.parametrize("command", sorted(gen_cli.commands()))
def test_option_tables_list_every_option_of_the_parser(command):
    text = gen_cli.markdown(command)
    options = _options(command)
    assert options
    for option in options:
        assert f"| <code>{option}" in text or f", {option}" in text, (command, option)
    assert text.startswith(f"```text\n{command} ")


def test_a_marker_naming_no_command_is_an_error():
    with pytest.raises(KeyError, match="inception-keras-nothing"):
        gen_cli.expand("<!-- cli: inception-keras-nothing -->\n")


# --------------------------------------------------------------------------- #
# README.md: a landing page whose first commands work and whose links lead somewhere
# --------------------------------------------------------------------------- #
README_LIMIT = 8 * 1024  # bytes; the rest of the documentation lives in docs/
FIRST_COMMANDS = ['pip install -e . && python tools/list_models.py', 'pip install -e ".[test]" && python -m pytest -n 2']


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_readme_is_a_short_landing_page_that_starts_with_the_two_commands():
    text = _readme()
    size = len(text.encode("utf-8"))
    assert size < README_LIMIT, f"README.md is {size} bytes; keep it under {README_LIMIT} and move detail to docs/"
    first_block = re.search(r"^```(\w*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert first_block and first_block.group(1) == "bash", "README.md's first code block must be the bash commands"
    commands = [line for line in first_block.group(2).splitlines() if line and not line.startswith("#")]
    assert commands == FIRST_COMMANDS


def test_every_relative_link_of_the_readme_points_at_a_file():
    links = re.findall(r"\]\(([^)\s]+)\)", _readme())
    relative = [link.split("#")[0] for link in links if not re.match(r"^[a-z][a-z+.-]*:|^#", link)]
    assert relative, "README.md links into docs/"
    missing = [link for link in relative if not os.path.exists(os.path.join(ROOT, link))]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    # the README is the way in: every guide and tool page is one link away
    pages = [f"docs/{name}" for name in os.listdir(os.path.join(ROOT, "docs")) if name.endswith(".md")]
    pages += [f"docs/tools/{name}" for name in os.listdir(os.path.join(ROOT, "docs", "tools")) if name.endswith(".md")]
    unlinked = sorted(set(pages) - set(relative))
    assert not unlinked, f"README.md does not link these pages of docs/: {unlinked}"


# --------------------------------------------------------------------------- #
# The name in each tool's usage line
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("command", sorted(gen_cli.commands()))
def test_called_from_python_a_tool_shows_its_installed_command(command, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest"])
    parser = importlib.import_module(gen_cli.commands()[command]).build_parser()
    assert parser.prog == command


def _usage(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=60, **kwargs)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[0]


def test_a_tool_shows_the_name_it_was_run_by(tmp_path):
    assert _usage([sys.executable, "tools/list_models.py", "--help"], cwd=ROOT).startswith("usage: list_models.py ")
    assert _usage([sys.executable, "-m", "inception_keras.cli.models", "--help"], cwd=ROOT).startswith(
        "usage: python -m inception_keras.cli.models ")
    # a console script as pip writes it, under another name: the name typed is the one shown
    launcher = tmp_path / "ik-models"
    launcher.write_text("import sys\nfrom inception_keras.cli.models import main\nsys.exit(main())\n")
    assert _usage([sys.executable, str(launcher), "--help"], cwd=tmp_path).startswith("usage: ik-models ")
    installed = shutil.which("inception-keras-models")
    if installed:  # pip install -e . (CI) puts it on PATH
        assert _usage([installed, "--help"], cwd=tmp_path).startswith("usage: inception-keras-models ")
