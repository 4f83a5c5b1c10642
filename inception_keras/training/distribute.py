"""``tf.distribute`` strategies for several devices or machines, and the workaround that lets
Keras 3's ``fit`` run under MultiWorkerMirroredStrategy."""

from __future__ import annotations

import os

from .config import TrainConfig, TrainingError


def make_strategy(config: TrainConfig):
    """The ``tf.distribute`` strategy of ``config.strategy``; created before anything else."""
    import tensorflow as tf  # noqa: PLC0415

    if config.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.strategy == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise TrainingError(
                "--strategy multiworker needs TF_CONFIG on every machine, e.g. "
                "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                "\"task\": {\"type\": \"worker\", \"index\": 0}}' (index 1 on the second machine)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if config.strategy == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError, RuntimeError) as e:
            raise TrainingError(f"--strategy tpu: no TPU found ({e}); on a TPU VM leave --tpu out, elsewhere pass "
                                f"--tpu NAME_OR_GRPC_ADDRESS") from e
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def multiworker_build_workaround(model, strategy, element_spec) -> None:
    """Keras 3's ``fit``/``evaluate`` reduce the first distributed batch over the replicas only to
    learn its shapes, and MultiWorkerMirroredStrategy cannot reduce a nested batch ("Attempt to
    convert a value (PerReplica...) to a Tensor", keras-team/keras#20585). Build from the
    dataset's shapes instead (the same ``_symbolic_build`` Keras would call)."""
    import tensorflow as tf  # noqa: PLC0415

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    if not hasattr(model, "_maybe_symbolic_build") or not hasattr(model, "_symbolic_build"):
        return  # a Keras version without the problem

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=element_spec)

    model._maybe_symbolic_build = build
    # ... and they average the per-replica logs (scalars) with reduce("MEAN", axis=0), which a
    # scalar does not have: average over the replicas (axis=None) instead.
    from keras.src.backend.tensorflow import trainer as tf_trainer  # noqa: PLC0415

    original = getattr(tf_trainer.reduce_per_replica, "__wrapped__", tf_trainer.reduce_per_replica)

    def reduce_per_replica(values, strategy_, reduction):
        if isinstance(strategy_, tf.distribute.MultiWorkerMirroredStrategy) and reduction in ("auto", "mean"):
            return tf.nest.map_structure(
                lambda v: strategy_.reduce("MEAN", v, axis=None)
                if isinstance(v, tf.distribute.DistributedValues) else v, values)
        return original(values, strategy_, reduction)

    reduce_per_replica.__wrapped__ = original
    tf_trainer.reduce_per_replica = reduce_per_replica


def is_chief(strategy) -> bool:
    return bool(getattr(strategy.extended, "should_checkpoint", True))
