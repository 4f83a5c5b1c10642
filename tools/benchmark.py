"""Parameters, multiply-adds, latency and throughput of the zoo (see inception_keras/cli/benchmark.py)."""
from inception_keras.cli.benchmark import main

raise SystemExit(main())
