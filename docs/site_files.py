"""MkDocs hook: the drawings in ``architectures/`` are part of the site, without a second copy.

``tools/plot_architectures.py`` writes them into ``architectures/`` at the top of the checkout;
this hook adds its PNG and SVG files to the site under the same path, so a page links
``architectures/blocks/inception_v4/inception_a.png`` and the strict build checks that link.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("architectures",)
SUFFIXES = {".png", ".svg"}


def on_files(files, config):
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                files.append(File(path.relative_to(ROOT).as_posix(), src_dir=str(ROOT),
                                  dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"]))
    return files
