"""Small pieces every layer may use: atomic file writing and locks (``fileio``), readable tables
(``tables``), lazy package attributes (``lazy``)."""
