"""The data layer: image decoding (``images``), preprocessing in one place (``preprocessing``:
input scaling, the evaluation crops of TF-slim and timm), multi-crop geometry (``crops``),
labelled image sets (``datasets``), training augmentation (``augment``) and ImageNet's class
names (``labels``, with ``imagenet_classes.tsv`` and ``ilsvrc2012_ids.tsv`` beside them)."""
