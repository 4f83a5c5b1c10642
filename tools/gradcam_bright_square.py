"""Draw the README's Grad-CAM example (see inception_keras/explain/bright_square.py)."""
from inception_keras.explain.bright_square import main

raise SystemExit(main())
