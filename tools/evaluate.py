"""Top-1/top-5 evaluation on ImageNet or any labelled image set (see inception_keras/cli/evaluate.py)."""
from inception_keras.cli.evaluate import main

raise SystemExit(main())
