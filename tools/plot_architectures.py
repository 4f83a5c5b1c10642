"""Draw every model and block type into architectures/ (see inception_keras/cli/plot.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from inception_keras.cli.plot import main  # noqa: E402

raise SystemExit(main())
