"""Train or fine-tune a model (see inception_keras/cli/train.py)."""
from inception_keras.cli.train import main

raise SystemExit(main())
