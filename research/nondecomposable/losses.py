"""The study's losses on logits, and a gathered form of `PairwiseAUC`.

`keras_backdrop.losses.PairwiseAUC` builds the dense batch-by-batch pair
matrix, which any backend can compile (no data-dependent shape). With 2 %
positives almost all of that matrix is weighted 0, and at 4,096 samples
it, not the network, is most of a full-batch step. `GatheredPairwiseAUC`
takes the positive and the negative logits out of the batch first, so its
matrix is positives by negatives. It is the same function (the same
penalty, pair weights, ties and empty-batch rule, from the library's own
code); its shapes depend on the labels, so it needs a step that is not
compiled to static shapes (`jit_compile=False`, as every run of the
harness is).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_backdrop.losses import PairwiseAUC, SoftF1


class GatheredPairwiseAUC(PairwiseAUC):
    """`PairwiseAUC` over the batch's (positive, negative) pairs only."""

    def _pairs(self, y, z, w):
        w = ops.ones_like(z) if w is None else w
        w_pos, w_neg = w * y, w * (1.0 - y)
        positive = ops.reshape(ops.nonzero(w_pos > 0.0)[0], (-1,))
        negative = ops.reshape(ops.nonzero(w_neg > 0.0)[0], (-1,))
        return (
            ops.take(z, positive),
            ops.take(w_pos, positive),
            ops.take(z, negative),
            ops.take(w_neg, negative),
        )


LOSS_CLASSES = {"soft_f1": SoftF1, "pairwise_auc": GatheredPairwiseAUC}


def make_loss(name: str) -> keras.losses.Loss:
    """The study's loss `name` on logits."""
    return LOSS_CLASSES[name](from_logits=True)
