"""The texture studies: does backdrop help on few, large, multi-scale images?

`settings` (studies, runs, keys), `data` (generated, cached splits), `model`
(the paper's network per variant), `train` (one run on Keras `fit`, exact
resume), `protocol` (variants x seeds), `report` (paired t-intervals,
tables, curves). `python -m research.texture --help` runs them.
"""
