"""Train or fine-tune a model (see inception_keras/cli/train.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from inception_keras.cli.train import main  # noqa: E402

raise SystemExit(main())
