"""Draw the README's Grad-CAM example (see inception_keras/cli/gradcam_bright_square.py)."""
from inception_keras.cli.gradcam_bright_square import main

raise SystemExit(main())
