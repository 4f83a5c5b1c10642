"""Classify images (see inception_keras/cli/predict.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from inception_keras.cli.predict import main  # noqa: E402

raise SystemExit(main())
