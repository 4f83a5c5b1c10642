"""Rows of the reliability suite: checkpoints, weights and outputs (converters, export, train)."""

from bad_inputs import case

case(id="convert-output-not-weights-h5", tool="convert",
     argv=("--checkpoint", "{tmp}/none.ckpt", "--model", "inception_v4", "--output", "{tmp}/out.h5"),
     code=1, phrase="--output must end with .weights.h5", absent=("out*",))

case(id="train-resume-no-such-folder", tool="train", argv=("--resume", "{tmp}/nowhere"),
     phrase="--resume", absent=("nowhere",))
case(id="train-new-run-without-output", tool="train", argv=("--data", "{tmp}"),
     phrase="pass --output DIR for a new run")
