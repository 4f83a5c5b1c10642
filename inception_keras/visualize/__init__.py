"""Architecture drawings: compact ones like the paper's figures, and full layer graphs.

    from inception_keras import create_model, visualize

    models = visualize.block_models("inception_v4", ["inception_c"])
    visualize.write(visualize.paper_dot(models["inception_c"]), "inception_c.png")   # like Fig. 6
    model = create_model("inception_resnet_v2")
    [s.label for s in visualize.model_stages(model)]   # ['Input', 'Stem', '5 x Inception-ResNet-A', ...]
    visualize.write(visualize.overview_dot(model), "irv2.svg")                         # like Fig. 15
    visualize.render(model, "irv2_full.svg")            # every layer, one dashed box per block
    text = visualize.to_dot(models["inception_c"]).to_string()                         # needs pydot only

**Paper style** (:func:`paper_dot`, :func:`overview_dot`). The boxes are read from the built
graph (:func:`paper_units`): a Conv2D with its BatchNorm and ReLU is one box, labelled from
the layer configs as the paper labels it (``3x3 Conv (384 stride 2 V)``, "V" for 'valid'
padding), and the branches of each block run left to right from slim's Branch_0. The
overview groups the layers into stages by their slim scopes (:func:`model_stages`) and
counts the repeated blocks, so nothing is copied from a table that could drift.

**Full style** (:func:`to_dot`) comes from ``keras.utils.model_to_dot`` (pydot) with shapes
and the slim-style layer names. Three things are changed so that graphs of several hundred
layers stay legible and the ``.dot`` files diff cleanly:

- nodes are named after their layers (Keras names them ``id(layer)``, which changes
  from run to run);
- the layers of each block (``Mixed_6b``, ``Repeat_1__block17_3``, ...) are drawn
  inside one labelled box. Keras draws such boxes only around nested models, and the
  models here are flat, so the boxes are made from the slim scopes of the names;
- the tables are padded less, and edges are splines: Graphviz 2.43 aborts on the
  full graphs with Keras's default ``splines="ortho"``.

PNG and SVG need a Graphviz ``dot`` program (:func:`dot_program`): the system's when one is on
PATH, else that of the graphviz-pure wheel, which ``pip install inception-keras`` brings. Text
``.dot`` needs only pydot. For ``keras.utils.plot_model`` without a system Graphviz::

    with visualize.graphviz_on_path():
        keras.utils.plot_model(model, "model.png", show_shapes=True)

The modules, by concern: :mod:`.drawings` (the blocks built as models of their own),
:mod:`.dot` (full-style graphs), :mod:`.paper` (paper style and overviews) and :mod:`.files`
(writing, and finding Graphviz). Every public name is imported here.
"""

from .dot import FORMATS, RANKDIRS, block_scope, shape_text, to_dot
from .drawings import BLOCKS, OVERVIEW_FIGURES, BlockDrawing, block_models, block_names, block_title
from .files import (
    INSTALL_HINT,
    PNG_MAX_SIDE,
    PNG_SIGNATURE,
    WHEEL,
    GraphvizNotFoundError,
    RenderError,
    Written,
    bundled_dot,
    dot_program,
    graphviz_available,
    graphviz_on_path,
    png_size,
    render,
    write,
)
from .paper import Stage, Unit, branch_of, model_stages, overview_dot, paper_dot, paper_units

__all__ = [
    "BLOCKS", "FORMATS", "INSTALL_HINT", "OVERVIEW_FIGURES", "PNG_MAX_SIDE", "PNG_SIGNATURE", "RANKDIRS", "WHEEL",
    "BlockDrawing", "GraphvizNotFoundError", "RenderError", "Stage", "Unit", "Written",
    "block_models", "block_names", "block_scope", "block_title", "branch_of", "bundled_dot", "dot_program",
    "graphviz_available", "graphviz_on_path", "model_stages", "overview_dot", "paper_dot", "paper_units",
    "png_size", "render", "shape_text", "to_dot", "write",
]
