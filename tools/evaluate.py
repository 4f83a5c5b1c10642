"""Top-1/top-5 evaluation on ImageNet or any labelled image set (see inception_keras/cli/evaluate.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from inception_keras.cli.evaluate import main  # noqa: E402

raise SystemExit(main())
