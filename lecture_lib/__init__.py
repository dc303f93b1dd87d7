"""Reference library for the softmax and attention course.

The lecture notebooks import from here, so every figure and every check in
the course runs on code that is itself tested against independent
references (scipy, float64 formulas).

Dimension names, used the same way in the library and the notebooks:

``n``
    the number of candidates one softmax chooses among (labels, keys);
``d``
    the size of a vector (a query, a key, a label embedding);
``batch``
    independent examples processed side by side.
"""

from .softmax import log_softmax, logsumexp, softmax, softmax_jacobian

__all__ = ["softmax", "log_softmax", "logsumexp", "softmax_jacobian"]
