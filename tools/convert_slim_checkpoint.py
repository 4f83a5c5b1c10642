"""Convert a TF-slim checkpoint to Keras weights (see inception_keras/cli/convert.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from inception_keras.cli.convert import main  # noqa: E402

raise SystemExit(main())
