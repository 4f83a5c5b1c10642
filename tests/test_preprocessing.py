"""preprocess_input and decode_predictions."""

import keras
import numpy as np
import pytest

from inception_keras import decode_predictions, preprocess_input
from inception_keras.data.labels import imagenet_classes


def test_preprocess_input_scales_to_minus_one_one():
    x = np.array([[[0, 127.5, 255]]], dtype="float32")
    np.testing.assert_allclose(preprocess_input(x), [[[-1.0, 0.0, 1.0]]])
    u8 = np.array([0, 255], dtype="uint8")
    out = preprocess_input(u8)
    assert out.dtype == np.float32 and out.tolist() == [-1.0, 1.0]  # no uint8 wrap-around
    tensor = keras.ops.convert_to_tensor(np.full((1, 2, 2, 3), 255, "uint8"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(preprocess_input(tensor)), 1.0)


def test_imagenet_classes_ship_with_the_package():
    classes = imagenet_classes()
    assert len(classes) == 1000 and len({s for s, _ in classes}) == 1000
    assert [s for s, _ in classes] == sorted(s for s, _ in classes)  # label order = sorted synsets
    assert classes[0] == ("n01440764", "tench, Tinca tinca")
    assert classes[999][0] == "n15075141"


def test_decode_predictions_1000_and_1001_columns():
    preds = np.zeros((2, 1000), "float32")
    preds[0, 0], preds[0, 1] = 0.9, 0.05
    preds[1, 999] = 0.7
    top = decode_predictions(preds, top=2)
    assert top[0] == [("n01440764", "tench, Tinca tinca", pytest.approx(0.9)),
                      ("n01443537", "goldfish, Carassius auratus", pytest.approx(0.05))]
    assert top[1][0][0] == "n15075141"
    with_background = np.concatenate([np.full((2, 1), 0.99, "float32"), preds], axis=1)
    assert decode_predictions(with_background, top=2) == top  # background column dropped, not reported


@pytest.mark.parametrize("shape", [(1000,), (2, 10), (2, 1002)])
def test_decode_predictions_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match="1000- or 1001-class"):
        decode_predictions(np.zeros(shape))
