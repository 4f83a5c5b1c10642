"""Export to SavedModel, TFLite or ONNX with numerical checks (see inception_keras/cli/export.py)."""
from inception_keras.cli.export import main

raise SystemExit(main())
