"""Draw every model and block type into architectures/ (see inception_keras/cli/plot.py)."""
from inception_keras.cli.plot import main

raise SystemExit(main())
