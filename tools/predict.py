"""Classify images (see inception_keras/cli/predict.py)."""
from inception_keras.cli.predict import main

raise SystemExit(main())
