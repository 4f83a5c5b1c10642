"""Every weight of the two released graphs maps, by the naming rule alone, onto exactly
one variable of TF-slim's variable list with the same shape (tests/data/*_slim_vars.txt,
as TF-slim creates them with 1001 classes and the auxiliary heads)."""

import os

import pytest

from conftest import DATA, read_slim_vars

SUFFIX = {"kernel": "weights", "bias": "biases", "beta": "beta", "moving_mean": "moving_mean",
          "moving_variance": "moving_variance"}


def slim_name(scope, variable):
    layer, var = variable.path.split("/")
    return f"{scope}/{layer.replace('__', '/')}/{SUFFIX[var]}"


@pytest.mark.parametrize(
    "name, scope, listing",
    [
        ("inception_v4", "InceptionV4", "inception_v4_slim_vars.txt"),
        ("inception_resnet_v2_slim", "InceptionResnetV2", "inception_resnet_v2_slim_vars.txt"),
    ],
)
def test_names_and_shapes_match_tf_slim(zoo, name, scope, listing):
    expected = read_slim_vars(os.path.join(DATA, listing))
    model = zoo.get(name, aux_logits=True, classes=1001)
    mapped = {slim_name(scope, v): tuple(v.shape) for v in model.weights}
    assert len(mapped) == len(model.weights)  # injective
    assert sorted(set(expected) - set(mapped)) == []
    assert sorted(set(mapped) - set(expected)) == []
    wrong = {k: (mapped[k], expected[k]) for k in expected if mapped[k] != expected[k]}
    assert wrong == {}
