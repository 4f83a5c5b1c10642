"""Grad-CAM heat maps over images (see inception_keras/cli/explain.py)."""
from inception_keras.cli.explain import main

raise SystemExit(main())
