"""Convert a TF-slim checkpoint to Keras weights (see inception_keras/cli/convert.py)."""
from inception_keras.cli.convert import main

raise SystemExit(main())
