"""Convert PyTorch (timm) weights to Keras weights (see inception_keras/cli/convert_timm.py)."""
from inception_keras.cli.convert_timm import main

raise SystemExit(main())
