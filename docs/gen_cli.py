"""The command-line pages' option tables, generated from each tool's argparse parser.

A tool page holds a marker line naming the installed command::

    <!-- cli: inception-keras-train -->

and the site build (this file is an MkDocs hook, see ``hooks:`` in mkdocs.yml) replaces it with
the tool's usage line and one table per option group, from ``build_parser()`` of the module that
``[project.scripts]`` in pyproject.toml names for the command. An option added to a tool is on its
page at the next build; a marker naming a command that does not exist fails the build.

Run it by hand to see what a page gets::

    python docs/gen_cli.py inception-keras-train      # the Markdown for one tool
    python docs/gen_cli.py                            # the commands, their modules and scripts
"""

from __future__ import annotations

import argparse
import html
import importlib
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # document this checkout, not whatever copy is installed
    sys.path.insert(0, str(ROOT))

MARKER = re.compile(r"^<!-- cli: ([\w-]+) -->$", re.MULTILINE)
USAGE_WIDTH = 100  # wide enough that no invocation wraps


def commands() -> dict[str, str]:
    """The installed commands of ``[project.scripts]`` and their modules: name -> module."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    return {name: target.split(":")[0] for name, target in scripts.items()}


def scripts() -> dict[str, str]:
    """The module each ``tools/*.py`` shim runs: module -> ``tools/<name>.py``."""
    found = {}
    for path in sorted((ROOT / "tools").glob("*.py")):
        match = re.search(r"^from (inception_keras\.cli\.\w+) import main$", path.read_text(), re.MULTILINE)
        if match:
            found[match.group(1)] = f"tools/{path.name}"
    return found


def parser_for(command: str) -> argparse.ArgumentParser:
    """The tool's parser, showing ``command`` as its name."""
    known = commands()
    if command not in known:
        raise KeyError(f"no command {command!r} in pyproject.toml's [project.scripts] (known: {', '.join(known)})")
    parser = importlib.import_module(known[command]).build_parser()
    parser.prog = command
    return parser


def _cell(text: str) -> str:
    """Text for one table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _code_cell(text: str) -> str:
    """Code for one table cell. Markdown keeps the backslash of ``\\|`` inside backticks, so the
    code is written as HTML with the pipe as an entity (``--batch-size N|dynamic``)."""
    return f"<code>{html.escape(' '.join(text.split())).replace('|', '&#124;')}</code>"


def option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, list[tuple[str, str]]]]:
    """(group title, [(invocation, help)]) for every group with a visible option, in --help's order.

    The invocation and the help text are argparse's own, as ``--help`` prints them."""
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    groups = []
    for group in parser._action_groups:  # argparse has no public accessor for its groups
        rows = []
        for action in group._group_actions:
            if action.help is argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            invocation = formatter._format_action_invocation(action)
            text = formatter._expand_help(action) if action.help else ""
            if action.required and action.option_strings:
                text = f"**required.** {text}"
            rows.append((invocation, text))
        if rows:
            groups.append((group.title, rows))
    return groups


def synopsis(parser: argparse.ArgumentParser) -> str:
    """``prog`` with its required options and positional arguments, the rest as ``[options]``."""
    formatter = argparse.HelpFormatter(parser.prog)
    words = [parser.prog]
    for action in parser._actions:
        if action.option_strings and action.required:
            words.append(f"{action.option_strings[0]} {formatter._format_args(action, action.dest.upper())}")
    words.append("[options]")
    words += [formatter._format_args(action, action.dest) for action in parser._actions if not action.option_strings]
    return " ".join(words)


def markdown(command: str) -> str:
    """The synopsis and the option tables of ``command``, as Markdown."""
    parser = parser_for(command)
    script = scripts().get(commands()[command])
    lines = ["```text", synopsis(parser), "```", ""]
    if script:
        lines += [f"Installed as `{command}`; from a checkout, `python {script}`. `--help` prints these options.", ""]
    for title, rows in option_rows(parser):
        lines += [f"**{title[:1].upper() + title[1:]}**", "", "| option | meaning |", "|---|---|"]
        lines += [f"| {_code_cell(invocation)} | {_cell(text)} |" for invocation, text in rows]
        lines.append("")
    return "\n".join(lines)


def expand(text: str) -> str:
    """``text`` with every marker replaced by its command's usage and option tables."""
    return MARKER.sub(lambda m: markdown(m.group(1)), text)


# --------------------------------------------------------------------------- #
# MkDocs hook
# --------------------------------------------------------------------------- #
def on_page_markdown(markdown_text, page, config, files):  # noqa: ARG001 - MkDocs' hook signature
    try:
        return expand(markdown_text)
    except KeyError as error:
        from mkdocs.exceptions import PluginError  # noqa: PLC0415

        raise PluginError(f"{page.file.src_path}: {error.args[0]}") from None


_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):(?=<code>)")


def on_page_content(html, page, config, files):  # noqa: ARG001 - MkDocs' hook signature
    """Drop the Sphinx roles (``:func:``) that some docstrings put before a name; the name stays."""
    return _ROLE.sub("", html)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        tools = scripts()
        for command, module in commands().items():
            print(f"{command:32} {module:36} {tools.get(module, '')}")
        return 0
    for command in argv:
        print(markdown(command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
