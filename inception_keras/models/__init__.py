"""The model layer: the graphs of the zoo, built from data (specs) with Keras alone.

``specs`` (the numbers of each graph), ``layers`` (conv-bn and friends), ``blocks`` (the
paper's figures), ``graphs`` (:func:`~inception_keras.models.graphs.build`), ``features``
(feature levels) and ``registry`` (names -> specs). Nothing here imports another part of the
package, loads weights or touches TensorFlow: the graphs build on every Keras 3 backend.
"""
