"""Print the zoo's table of models (see inception_keras/cli/models.py)."""
from inception_keras.cli.models import main

raise SystemExit(main())
