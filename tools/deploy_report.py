"""Deployed models against their source: accuracy, agreement, speed (see inception_keras/cli/deploy_report.py)."""
from inception_keras.cli.deploy_report import main

raise SystemExit(main())
