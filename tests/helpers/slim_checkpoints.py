"""Write checkpoints in TF-slim's exact format (names, shapes, V1 or V2 files) for the tests."""

import os
import tarfile

import numpy as np

from helpers.common import DATA, read_slim_vars

LISTINGS = {
    "inception_v4": "inception_v4_slim_vars.txt",
    "inception_resnet_v2_slim": "inception_resnet_v2_slim_vars.txt",
}


def slim_tensors(arch, seed=0, decoys=True, ema=False):
    """Random values for every variable TF-slim creates (1001 classes, aux heads), plus
    what real checkpoints also hold: global_step, RMSProp slots and, optionally, EMA shadows."""
    rng = np.random.default_rng(seed)
    shapes = read_slim_vars(os.path.join(DATA, LISTINGS[arch]))
    tensors = {}
    for name, shape in shapes.items():
        if name.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("moving_mean", "beta", "biases")):
            value = rng.normal(0.0, 0.2, shape)
        else:  # kernels: scaled so activations stay O(1) through the network
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
        tensors[name] = value.astype("float32")
    if decoys:
        tensors["global_step"] = np.array(123456, dtype="int64")
        for name in list(shapes)[:5]:
            tensors[name + "/RMSProp"] = np.zeros(shapes[name], "float32")
            tensors[name + "/RMSProp_1"] = np.zeros(shapes[name], "float32")
    if ema:
        for name in shapes:
            tensors[name + "/ExponentialMovingAverage"] = (tensors[name] * 0.5).astype("float32")
    return tensors


def write_checkpoint(prefix, tensors, version=2):
    """Save ``tensors`` as a TF checkpoint, V1 (one file) or V2 (.index + .data)."""
    import tensorflow as tf

    saver_version = tf.compat.v1.train.SaverDef.V1 if version == 1 else tf.compat.v1.train.SaverDef.V2
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.Variable(value, name=name) for name, value in tensors.items()]
        saver = tf.compat.v1.train.Saver(variables, write_version=saver_version)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, prefix, write_meta_graph=False)


def write_release_tarball(path, prefix):
    """A release-style tarball: the checkpoint files at the top level."""
    directory, base = os.path.split(prefix)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name in sorted(os.listdir(directory)):
            if name.startswith(base):
                tar.add(os.path.join(directory, name), arcname=name)
    return path
