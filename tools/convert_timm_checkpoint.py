"""Convert PyTorch (timm) weights to Keras weights (see inception_keras/cli/convert_timm.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from inception_keras.cli.convert_timm import main  # noqa: E402

raise SystemExit(main())
