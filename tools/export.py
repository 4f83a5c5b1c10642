"""Export to SavedModel, TFLite or ONNX with numerical checks (see inception_keras/cli/export.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from inception_keras.cli.export import main  # noqa: E402

raise SystemExit(main())
