"""Parameters, multiply-adds, latency and throughput of the zoo (see inception_keras/cli/benchmark.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from inception_keras.cli.benchmark import main  # noqa: E402

raise SystemExit(main())
