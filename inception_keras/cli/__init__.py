"""Command-line tools: one module per tool, each with ``build_parser()`` and ``main(argv)``."""
