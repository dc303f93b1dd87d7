"""MLP softmax heads: cross-entropy, its gradient and a small classifier.

A classifier with a softmax head scores ``n`` labels for every example. A
trunk (here a small MLP) turns the input into its last hidden state ``q``
of size ``d``; every label ``j`` has a label embedding ``u_j``, a row of
``U`` of shape ``(n, d)``, and a bias ``b_j``. The logits are
``U q + b``, the probabilities ``p = softmax(U q + b)``, and a prediction
is a label: the argmax of ``p``, or a sample from it.

The loss is the cross-entropy ``-log p_y``, computed through
:func:`~lecture_lib.softmax.log_softmax` so that it stays finite and exact
for logits of any magnitude. Its gradient with respect to the logits is
``p - onehot(y)``.
"""

import math
import numbers

import numpy as np
from tqdm.auto import tqdm

from ._checks import (
    as_float_array,
    as_generator,
    check_float_dtype,
    work_dtype,
)
from .softmax import log_softmax, softmax

__all__ = [
    "MLPSoftmaxHead",
    "cross_entropy",
    "cross_entropy_grad",
    "load_digits_split",
]

_REDUCTIONS = ("mean", "sum", "none")
_ACTIVATIONS = ("relu", "tanh")


# -- input checks ------------------------------------------------------


def _check_logits(logits, func):
    """Return ``logits`` as a floating array of shape (batch, n)."""
    arr = as_float_array(logits, "logits", func)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"{func}: expected logits of shape (batch, n) with batch >= 1 "
            f"and n >= 1, got shape {arr.shape}. For a single example, pass "
            f"logits[None, :] and labels=[y]."
        )
    return arr


def _check_labels(labels, batch, n, func, name="labels"):
    """Return ``labels`` as an int64 array of shape (batch,) in [0, n)."""
    arr = np.asarray(labels)
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"{func}: expected {name} to be integers (class indices), got "
            f"an array of dtype {arr.dtype}. Convert them, for example "
            f"with np.asarray({name}).astype(int) after checking that "
            f"they are whole numbers."
        )
    if arr.shape != (batch,):
        raise ValueError(
            f"{func}: expected {name} of shape (batch,) = ({batch},), one "
            f"label per row, got shape {arr.shape}. Pass one integer label "
            f"per example, e.g. {name}.reshape(-1)."
        )
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        bad = arr[(arr < 0) | (arr >= n)]
        raise ValueError(
            f"{func}: expected {name} in [0, {n}) for n = {n} labels, got "
            f"{int(bad.size)} out of range (for example {int(bad[0])}). "
            f"Map the classes to 0, ..., n - 1 first, e.g. with "
            f"np.unique({name}, return_inverse=True)."
        )
    return arr.astype(np.int64, copy=False)


def _check_smoothing(label_smoothing, func):
    """Return ``label_smoothing`` as a Python float in [0, 1]."""
    ok = isinstance(label_smoothing, numbers.Real) and not isinstance(
        label_smoothing, bool
    )
    if ok and 0.0 <= float(label_smoothing) <= 1.0:
        return float(label_smoothing)
    raise ValueError(
        f"{func}: expected label_smoothing to be a real number in [0, 1], "
        f"got {label_smoothing!r}. Pass 0.0 for plain one-hot targets or a "
        f"small value such as 0.1."
    )


def _check_reduction(reduction, func):
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"{func}: expected reduction to be one of 'mean', 'sum' or "
            f"'none', got {reduction!r}. Use 'mean' for training, 'none' "
            f"for one loss per example."
        )
    return reduction


def _positive_int(value, name, func, minimum=1):
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and value >= minimum:
        return int(value)
    raise ValueError(
        f"{func}: expected {name} to be an int >= {minimum}, got "
        f"{value!r}. Pass, for example, {name}={max(minimum, 10)}."
    )


def _positive_float(value, name, func, allow_zero=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    if ok and (value > 0 or (allow_zero and value == 0)):
        return float(value)
    bound = ">= 0" if allow_zero else "> 0"
    raise ValueError(
        f"{func}: expected {name} to be a finite real number {bound}, got "
        f"{value!r}. Pass, for example, {name}=0.001."
    )


def _targets(labels, n, a, dtype):
    """Smoothed one-hot targets ``(1 - a) * onehot + a / n``."""
    target = np.full((labels.size, n), a / n, dtype=dtype)
    target[np.arange(labels.size), labels] += 1.0 - a
    return target


# -- loss ----------------------------------------------------------------


def _check_loss_args(logits, labels, label_smoothing, reduction, func):
    """Validate the arguments shared by the loss and its gradient."""
    z = _check_logits(logits, func)
    batch, n = z.shape
    y = _check_labels(labels, batch, n, func)
    a = _check_smoothing(label_smoothing, func)
    return z, y, a, _check_reduction(reduction, func)


def cross_entropy(logits, labels, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy of softmax probabilities, from the logits.

    Parameters
    ----------
    logits : array_like of shape (batch, n)
        Scores of the ``n`` labels for each example: finite, or ``-inf``
        for a label that is ruled out.
    labels : array_like of int, shape (batch,)
        The correct label of each example, in ``[0, n)``.
    label_smoothing : float, default=0.0
        ``a`` in ``[0, 1]``. The target of an example with label ``y`` is
        ``(1 - a) * onehot(y) + a / n``, the convention of
        ``torch.nn.functional.cross_entropy``.
    reduction : {"mean", "sum", "none"}, default="mean"
        Average over the batch, sum over it, or return one loss per
        example.

    Returns
    -------
    loss : ndarray of shape () or (batch,)
        ``-sum_j target_j * log_softmax(logits)_j`` per example, reduced
        as asked: a 0-d value for "mean" and "sum", shape ``(batch,)``
        for "none". Floating logits keep their dtype (float16 is computed
        in float32); integer logits give float64.

    Raises
    ------
    ValueError
        If ``logits`` is not a non-empty 2-D real array, holds NaN or
        ``+inf`` or a row of only ``-inf``; if ``labels`` is not an integer
        array of shape ``(batch,)`` with values in ``[0, n)``; if
        ``label_smoothing`` is not in ``[0, 1]``; if ``reduction`` is
        unknown.

    See Also
    --------
    cross_entropy_grad : its gradient with respect to the logits.

    Notes
    -----
    The log-probabilities come from ``log_softmax``, that is
    ``logits - logsumexp(logits)``, never from the logarithm of a
    probability, which would round to ``log(0) = -inf`` once a label is
    about 745 below the best one (in float64). A ``-inf`` logit at the
    correct label, or anywhere with ``label_smoothing > 0``, gives an
    infinite loss: the target puts mass on a label the model rules out.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.heads import cross_entropy
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> float(cross_entropy(logits, [0, 2]).round(4))
    0.6691
    >>> cross_entropy(logits, [0, 2], reduction="none").round(4)
    array([0.2395, 1.0986])
    >>> cross_entropy(np.array([[0.0, 1e4]]), [0], reduction="none")
    array([10000.])
    >>> float(cross_entropy(logits, [0, 2], label_smoothing=0.3).round(4))
    0.8691
    """
    func = "cross_entropy"
    z, y, a, reduction = _check_loss_args(
        logits, labels, label_smoothing, reduction, func
    )
    batch, n = z.shape

    wd = work_dtype(z.dtype)
    log_p = log_softmax(z.astype(wd, copy=False), axis=-1)
    # -log p_y, the part of the loss from the one-hot target. Each part
    # is left out when its weight is 0, so that 0 * inf never happens.
    losses = np.zeros(batch, dtype=wd)
    if a < 1.0:
        losses -= (1.0 - a) * log_p[np.arange(batch), y]
    if a > 0.0:
        # The uniform part of the target: -(a / n) * sum_j log p_j.
        losses -= (a / n) * log_p.sum(axis=-1)
    if reduction == "mean":
        losses = losses.mean()
    elif reduction == "sum":
        losses = losses.sum()
    return np.asarray(losses).astype(z.dtype, copy=False)


def cross_entropy_grad(logits, labels, label_smoothing=0.0, reduction="mean"):
    """Gradient of :func:`cross_entropy` with respect to the logits.

    Parameters
    ----------
    logits : array_like of shape (batch, n)
        As for :func:`cross_entropy`.
    labels : array_like of int, shape (batch,)
        As for :func:`cross_entropy`.
    label_smoothing : float, default=0.0
        As for :func:`cross_entropy`.
    reduction : {"mean", "sum", "none"}, default="mean"
        The reduction of the loss being differentiated. For "none", whose
        loss is a vector, the result is the gradient of its sum: row ``i``
        is the gradient of example ``i``'s own loss with respect to its own
        logits (the other rows do not affect it).

    Returns
    -------
    grad : ndarray of shape (batch, n)
        ``softmax(logits) - target``, divided by ``batch`` for "mean".
        Every row sums to 0. dtype as for :func:`cross_entropy`.

    Raises
    ------
    ValueError
        As for :func:`cross_entropy`.

    Notes
    -----
    With ``p = softmax(z)`` and ``L = -sum_j t_j log p_j``, the derivative
    is ``dL/dz_k = p_k - t_k`` whenever the target ``t`` sums to 1, which
    holds with label smoothing too. The gradient is finite even where the
    loss is infinite (a ``-inf`` logit gets ``p_k = 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.heads import cross_entropy_grad
    >>> logits = np.array([[0.0, np.log(3.0)]])
    >>> cross_entropy_grad(logits, [0])
    array([[-0.75,  0.75]])
    >>> cross_entropy_grad(logits, [0], label_smoothing=0.5)
    array([[-0.5,  0.5]])
    """
    func = "cross_entropy_grad"
    z, y, a, reduction = _check_loss_args(
        logits, labels, label_smoothing, reduction, func
    )
    batch, n = z.shape

    wd = work_dtype(z.dtype)
    grad = softmax(z.astype(wd, copy=False), axis=-1)
    grad -= _targets(y, n, a, wd)
    if reduction == "mean":
        grad /= batch
    return grad.astype(z.dtype, copy=False)


# -- data ----------------------------------------------------------------


def load_digits_split(test_size=0.25, rng=0):
    """The handwritten digits, scaled to [0, 1] and split by class.

    scikit-learn ships these 1797 images of 8 x 8 pixels (grey levels 0 to
    16) inside the package, so nothing is downloaded.

    Parameters
    ----------
    test_size : float, default=0.25
        Fraction of the images held out for testing, in ``(0, 1)``.
    rng : np.random.Generator, int or None, default=0
        Randomness of the split: a Generator, an int seed (the same split
        every time) or None.

    Returns
    -------
    X_train : ndarray of shape (n_train, 64), float64
        Pixel values divided by 16, so in ``[0, 1]``; row ``i`` is an
        image read row by row (``X_train[i].reshape(8, 8)``).
    X_test : ndarray of shape (n_test, 64), float64
    y_train : ndarray of shape (n_train,), int64
        The digit shown, ``0`` to ``9``.
    y_test : ndarray of shape (n_test,), int64

    Raises
    ------
    ValueError
        If ``test_size`` is not in ``(0, 1)`` or ``rng`` is not a
        Generator, a non-negative int or None.

    Notes
    -----
    The split is ``sklearn.model_selection.train_test_split`` with
    ``stratify=y``: every digit has (up to rounding) the same share in
    both parts. Its ``random_state`` is an int drawn from ``rng``, so
    ``rng=0`` gives the same split as ``random_state=s`` for that drawn
    ``s``, not as ``random_state=0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.heads import load_digits_split
    >>> X_train, X_test, y_train, y_test = load_digits_split()
    >>> X_train.shape, X_test.shape
    ((1347, 64), (450, 64))
    >>> float(X_train.min()), float(X_train.max())
    (0.0, 1.0)
    >>> np.bincount(y_test)  # test images per digit, about 45 each
    array([45, 46, 44, 46, 45, 46, 45, 45, 43, 45])
    """
    func = "load_digits_split"
    ok = isinstance(test_size, numbers.Real) and not isinstance(
        test_size, bool
    )
    if not (ok and 0.0 < float(test_size) < 1.0):
        raise ValueError(
            f"{func}: expected test_size to be a fraction in (0, 1), got "
            f"{test_size!r}. Pass, for example, test_size=0.25 for a 25 % "
            f"test set."
        )
    gen = as_generator(rng, func)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # grey levels 0..16 -> [0, 1]
    seed = int(gen.integers(2**31 - 1))
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=float(test_size), stratify=y, random_state=seed
    )
    return X_train, X_test, y_train.astype(np.int64), y_test.astype(np.int64)


# -- the model -------------------------------------------------------------


class MLPSoftmaxHead:
    """A small MLP whose last hidden state is scored against label vectors.

    The trunk maps an input ``x`` of size ``n_features`` through one or
    more hidden layers ``h_k = act(h_{k-1} W_k + b_k)``; its last hidden
    state is ``q`` of size ``d = hidden_sizes[-1]``. Each of the ``n``
    labels has an embedding ``u_j`` (row ``j`` of ``U``, shape ``(n, d)``)
    and a bias ``b_j``. For a batch, ``logits = q @ U.T + b`` has shape
    ``(batch, n)`` and ``p = softmax(logits)``.

    Parameters
    ----------
    n_features : int
        Size of one input vector.
    n_labels : int
        ``n``, the number of labels, at least 2.
    hidden_sizes : sequence of int, default=(64,)
        Width of each hidden layer; one or two layers are typical. The last
        width is ``d``.
    activation : {"relu", "tanh"}, default="relu"
        Non-linearity of the hidden layers.
    dtype : {np.float64, np.float32}, default=np.float64
        dtype of every parameter, gradient and output. Inputs are cast to
        it.
    rng : np.random.Generator, int or None, default=None
        Randomness of the initial weights.

    Attributes
    ----------
    parameters : dict of str to ndarray
        The arrays the model computes with, by name: ``"W1"``, ``"b1"``,
        ... for the hidden layers, ``"U"`` (shape ``(n, d)``) and ``"b"``
        (shape ``(n,)``). Changing an entry in place changes the model,
        which is what :func:`lecture_lib.gradcheck.gradcheck` needs.
    d : int
        Size of the last hidden state ``q``.

    Raises
    ------
    ValueError
        If a size is not a positive int, ``n_labels < 2``, the activation
        or the dtype is unknown, or ``rng`` is not a valid generator.

    Notes
    -----
    Hidden weights and ``U`` start from the Glorot uniform distribution,
    biases at 0. :meth:`fit` uses Adam on minibatches; its moment
    estimates start afresh at every call.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.heads import MLPSoftmaxHead
    >>> head = MLPSoftmaxHead(4, 3, hidden_sizes=(8,), rng=0)
    >>> {name: value.shape for name, value in head.parameters.items()}
    {'W1': (4, 8), 'b1': (8,), 'U': (3, 8), 'b': (3,)}
    >>> X = np.ones((5, 4))
    >>> head.forward(X).shape
    (5, 3)
    >>> head.predict_proba(X).sum(axis=1).round(6)
    array([1., 1., 1., 1., 1.])
    """

    def __init__(
        self,
        n_features,
        n_labels,
        hidden_sizes=(64,),
        activation="relu",
        dtype=np.float64,
        rng=None,
    ):
        func = "MLPSoftmaxHead"
        self.n_features = _positive_int(n_features, "n_features", func)
        self.n_labels = _positive_int(n_labels, "n_labels", func, minimum=2)
        if isinstance(hidden_sizes, numbers.Integral):
            hidden_sizes = (hidden_sizes,)
        try:
            sizes = tuple(hidden_sizes)
        except TypeError:
            sizes = ()
        if not sizes:
            raise ValueError(
                f"{func}: expected hidden_sizes to be a non-empty sequence "
                f"of widths, got {hidden_sizes!r}. Pass e.g. (64,) for one "
                f"hidden layer or (64, 64) for two."
            )
        ok = all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool)
            for s in sizes
        )
        if not ok or min(sizes) < 1:
            raise ValueError(
                f"{func}: expected every hidden size to be an int >= 1, got "
                f"hidden_sizes={hidden_sizes!r}. Pass e.g. (64,) for one "
                f"hidden layer or (64, 64) for two."
            )
        self.hidden_sizes = tuple(int(s) for s in sizes)
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"{func}: expected activation 'relu' or 'tanh', got "
                f"{activation!r}."
            )
        self.activation = activation
        self.dtype = check_float_dtype(dtype, func)
        gen = as_generator(rng, func)

        self._params = {}
        fan_in = self.n_features
        for k, width in enumerate(self.hidden_sizes, start=1):
            self._params[f"W{k}"] = self._glorot(gen, fan_in, width)
            self._params[f"b{k}"] = np.zeros(width, dtype=self.dtype)
            fan_in = width
        # U has shape (n, d): its rows are the label embeddings u_j.
        self._params["U"] = self._glorot(gen, self.n_labels, fan_in)
        self._params["b"] = np.zeros(self.n_labels, dtype=self.dtype)
        self._cache = None

    def _glorot(self, gen, rows, cols):
        """Uniform on +-sqrt(6 / (rows + cols)), in the model's dtype."""
        limit = math.sqrt(6.0 / (rows + cols))
        w = gen.uniform(-limit, limit, size=(rows, cols))
        return w.astype(self.dtype)

    @property
    def parameters(self):
        """dict of str to ndarray: the model's own arrays, by name."""
        return dict(self._params)

    @property
    def d(self):
        """int: size of the last hidden state ``q``."""
        return self.hidden_sizes[-1]

    @property
    def label_embeddings(self):
        """ndarray of shape (n, d): ``U``, one label embedding per row."""
        return self._params["U"]

    def __repr__(self):
        return (
            f"MLPSoftmaxHead(n_features={self.n_features}, "
            f"n_labels={self.n_labels}, hidden_sizes={self.hidden_sizes}, "
            f"activation={self.activation!r}, dtype={self.dtype.name})"
        )

    # -- computation -----------------------------------------------------

    def _check_X(self, X, func):
        arr = as_float_array(X, "X", func)
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise ValueError(
                f"{func}: expected X of shape (batch, n_features) = (batch, "
                f"{self.n_features}), got shape {arr.shape}. For a single "
                f"example x, pass x[None, :]."
            )
        if arr.shape[0] == 0:
            raise ValueError(
                f"{func}: expected at least one example in X, got shape "
                f"{arr.shape}."
            )
        arr = arr.astype(self.dtype, copy=False)
        if not np.isfinite(arr).all():
            raise ValueError(
                f"{func}: expected finite inputs, got "
                f"{int((~np.isfinite(arr)).sum())} NaN or infinite entries "
                f"in X (after casting to {self.dtype.name}). Clean or "
                f"rescale the data; np.isfinite(X) locates them."
            )
        return arr

    def _act(self, z):
        if self.activation == "relu":
            return np.maximum(z, 0)
        return np.tanh(z)

    def _run(self, X):
        """Trunk and head; returns (logits, layer inputs, pre-activations)."""
        inputs, pre = [], []
        h = X
        for k in range(1, len(self.hidden_sizes) + 1):
            inputs.append(h)
            z = h @ self._params[f"W{k}"]  # (batch, width_k)
            z += self._params[f"b{k}"]
            pre.append(z)
            h = self._act(z)
        q = h  # (batch, d): the last hidden state
        logits = q @ self._params["U"].T  # (batch, d) @ (d, n) -> (batch, n)
        logits += self._params["b"]
        return logits, inputs + [q], pre

    def hidden_state(self, X):
        """The last hidden state ``q`` of every example.

        Parameters
        ----------
        X : array_like of shape (batch, n_features)

        Returns
        -------
        q : ndarray of shape (batch, d)

        Raises
        ------
        ValueError
            If ``X`` has the wrong shape or holds non-finite values.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.heads import MLPSoftmaxHead
        >>> head = MLPSoftmaxHead(4, 3, hidden_sizes=(8, 6), rng=0)
        >>> head.hidden_state(np.ones((2, 4))).shape
        (2, 6)
        """
        X = self._check_X(X, "MLPSoftmaxHead.hidden_state")
        return self._run(X)[1][-1]

    def forward(self, X):
        """Logits of every label, keeping what :meth:`backward` needs.

        Parameters
        ----------
        X : array_like of shape (batch, n_features)
            Inputs; cast to the model's dtype.

        Returns
        -------
        logits : ndarray of shape (batch, n)
            ``q @ U.T + b``.

        Raises
        ------
        ValueError
            If ``X`` has the wrong shape or holds non-finite values.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.heads import MLPSoftmaxHead
        >>> head = MLPSoftmaxHead(4, 3, hidden_sizes=(8,), rng=0)
        >>> logits = head.forward(np.zeros((2, 4)))
        >>> logits  # zero input and zero biases give zero logits
        array([[0., 0., 0.],
               [0., 0., 0.]])
        """
        X = self._check_X(X, "MLPSoftmaxHead.forward")
        logits, hs, pre = self._run(X)
        self._cache = (hs, pre)
        return logits

    def backward(self, dlogits):
        """Gradients of a loss with respect to every parameter.

        Parameters
        ----------
        dlogits : array_like of shape (batch, n)
            Gradient of the loss with respect to the logits returned by the
            last call of :meth:`forward`, e.g. from
            :func:`cross_entropy_grad`.

        Returns
        -------
        grads : dict of str to ndarray
            One gradient per entry of :attr:`parameters`, same names,
            shapes and dtype.

        Raises
        ------
        ValueError
            If :meth:`forward` has not been called, or ``dlogits`` does not
            have the shape of its logits.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.heads import MLPSoftmaxHead
        >>> head = MLPSoftmaxHead(4, 3, hidden_sizes=(8,), rng=0)
        >>> logits = head.forward(np.ones((2, 4)))
        >>> grads = head.backward(np.ones_like(logits))
        >>> grads["b"]  # d(sum of logits) / db_j = batch
        array([2., 2., 2.])
        """
        func = "MLPSoftmaxHead.backward"
        if self._cache is None:
            raise ValueError(
                f"{func}: no forward pass to differentiate. Call "
                f"forward(X) first, then backward(dlogits)."
            )
        hs, pre = self._cache
        batch = hs[0].shape[0]
        g = as_float_array(dlogits, "dlogits", func)
        if g.shape != (batch, self.n_labels):
            raise ValueError(
                f"{func}: expected dlogits of shape (batch, n) = ({batch}, "
                f"{self.n_labels}), the shape of the last forward pass's "
                f"logits, got {g.shape}."
            )
        g = g.astype(self.dtype, copy=False)

        grads = {}
        q = hs[-1]
        # Head: logits = q @ U.T + b.
        grads["U"] = g.T @ q  # (n, batch) @ (batch, d) -> (n, d)
        grads["b"] = g.sum(axis=0)
        dh = g @ self._params["U"]  # (batch, n) @ (n, d) -> (batch, d)
        # Trunk, last layer first: h_k = act(z_k), z_k = h_{k-1} W_k + b_k.
        for k in range(len(self.hidden_sizes), 0, -1):
            z = pre[k - 1]
            if self.activation == "relu":
                dz = dh * (z > 0)
            else:
                dz = dh * (1 - hs[k] ** 2)  # hs[k] = tanh(z_k)
            grads[f"W{k}"] = hs[k - 1].T @ dz  # (width_{k-1}, width_k)
            grads[f"b{k}"] = dz.sum(axis=0)
            if k > 1:
                dh = dz @ self._params[f"W{k}"].T  # (batch, width_{k-1})
        return {name: grads[name] for name in self._params}

    def loss_and_grads(self, X, y, label_smoothing=0.0, weight_decay=0.0):
        """Mean cross-entropy on a batch, and its parameter gradients.

        Parameters
        ----------
        X : array_like of shape (batch, n_features)
        y : array_like of int, shape (batch,)
            Labels in ``[0, n)``.
        label_smoothing : float, default=0.0
            As for :func:`cross_entropy`.
        weight_decay : float, default=0.0
            ``lam >= 0``; adds ``lam / 2`` times the sum of squares of the
            weight matrices (``W1``, ``W2``, ..., ``U``, not the biases)
            to the loss.

        Returns
        -------
        loss : ndarray of shape ()
            The mean cross-entropy plus the weight penalty, in the model's
            dtype.
        grads : dict of str to ndarray
            Its gradient for every parameter.

        Raises
        ------
        ValueError
            For inputs or labels of the wrong shape or range, or a bad
            ``label_smoothing`` or ``weight_decay``.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.heads import MLPSoftmaxHead
        >>> head = MLPSoftmaxHead(4, 3, hidden_sizes=(8,), rng=0)
        >>> loss, grads = head.loss_and_grads(np.zeros((2, 4)), [0, 1])
        >>> float(loss.round(4))  # uniform p: log(3)
        1.0986
        >>> sorted(grads)
        ['U', 'W1', 'b', 'b1']
        """
        func = "MLPSoftmaxHead.loss_and_grads"
        lam = _positive_float(
            weight_decay, "weight_decay", func, allow_zero=True
        )
        logits = self.forward(X)
        y = _check_labels(y, logits.shape[0], self.n_labels, func, name="y")
        loss = cross_entropy(logits, y, label_smoothing)
        grads = self.backward(cross_entropy_grad(logits, y, label_smoothing))
        if lam > 0.0:
            for name, value in self._params.items():
                if name[0] in "WU":
                    loss = loss + 0.5 * lam * np.sum(value * value)
                    grads[name] += lam * value
        return np.asarray(loss, dtype=self.dtype), grads

    def predict_proba(self, X, temperature=1.0):
        """Probabilities of every label, ``softmax(logits / temperature)``.

        Parameters
        ----------
        X : array_like of shape (batch, n_features)
        temperature : float, default=1.0
            Finite and ``>= 0``: above 1 softens the probabilities, below 1
            sharpens them, 0 gives the one-hot argmax (split among ties).

        Returns
        -------
        p : ndarray of shape (batch, n)
            Rows sum to 1.

        Raises
        ------
        ValueError
            For a bad ``X`` or ``temperature``.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.heads import MLPSoftmaxHead
        >>> head = MLPSoftmaxHead(4, 3, hidden_sizes=(8,), rng=0)
        >>> head.predict_proba(np.zeros((1, 4)))
        array([[0.33333333, 0.33333333, 0.33333333]])
        """
        X = self._check_X(X, "MLPSoftmaxHead.predict_proba")
        return softmax(self._run(X)[0], axis=-1, temperature=temperature)

    def predict(self, X):
        """The most probable label of every example.

        Parameters
        ----------
        X : array_like of shape (batch, n_features)

        Returns
        -------
        labels : ndarray of int64, shape (batch,)
            ``argmax_j logits[:, j]``; the first one on a tie.

        Raises
        ------
        ValueError
            For a bad ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.heads import MLPSoftmaxHead
        >>> head = MLPSoftmaxHead(4, 3, hidden_sizes=(8,), rng=0)
        >>> head.parameters["b"][:] = [0.0, 5.0, 0.0]
        >>> head.predict(np.zeros((2, 4)))
        array([1, 1])
        """
        X = self._check_X(X, "MLPSoftmaxHead.predict")
        return self._run(X)[0].argmax(axis=-1).astype(np.int64)

    def sample_labels(self, X, temperature=1.0, size=None, rng=None):
        """Draw labels from ``softmax(logits / temperature)``.

        Parameters
        ----------
        X : array_like of shape (batch, n_features)
        temperature : float, default=1.0
            As for :meth:`predict_proba`.
        size : int or tuple of int, optional
            Number of draws per example, passed to
            :func:`lecture_lib.selection.sample_softmax`.
        rng : np.random.Generator, int or None, default=None
            Source of randomness.

        Returns
        -------
        labels : ndarray of int64
            Shape ``(batch,)`` when ``size`` is None, ``(*size, batch)``
            otherwise: the draws come first, as in
            :func:`lecture_lib.selection.sample_softmax`.

        Raises
        ------
        ValueError
            For a bad ``X``, ``temperature``, ``size`` or ``rng``.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.heads import MLPSoftmaxHead
        >>> head = MLPSoftmaxHead(4, 3, hidden_sizes=(8,), rng=0)
        >>> head.parameters["b"][:] = [0.0, 50.0, 0.0]
        >>> head.sample_labels(np.zeros((3, 4)), rng=0)
        array([1, 1, 1])
        >>> head.sample_labels(np.zeros((3, 4)), size=5, rng=0).shape
        (5, 3)
        """
        from .selection import sample_softmax

        X = self._check_X(X, "MLPSoftmaxHead.sample_labels")
        logits = self._run(X)[0]
        return sample_softmax(
            logits, temperature=temperature, size=size, rng=rng
        )

    def fit(
        self,
        X,
        y,
        epochs=30,
        batch_size=64,
        lr=0.003,
        weight_decay=0.0,
        label_smoothing=0.0,
        validation_data=None,
        rng=None,
        progress=True,
    ):
        """Train every parameter with Adam on shuffled minibatches.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training inputs.
        y : array_like of int, shape (n_samples,)
            Training labels in ``[0, n)``.
        epochs : int, default=30
            Passes over the training data.
        batch_size : int, default=64
            Examples per update; the last batch of an epoch may be smaller.
        lr : float, default=0.003
            Adam step size.
        weight_decay : float, default=0.0
            L2 penalty, as in :meth:`loss_and_grads`.
        label_smoothing : float, default=0.0
            As in :func:`cross_entropy`.
        validation_data : tuple (X_val, y_val), optional
            Held-out data, scored (accuracy) after every epoch.
        rng : np.random.Generator, int or None, default=None
            Randomness of the shuffling.
        progress : bool, default=True
            Show a progress bar over the epochs; False shows nothing.

        Returns
        -------
        history : dict of str to list of float
            ``"train_loss"``: the mean cross-entropy (without the weight
            penalty) over each epoch's minibatches, as they were trained
            on; ``"val_accuracy"``: the held-out accuracy after each epoch,
            present only with ``validation_data``.

        Raises
        ------
        ValueError
            For data of the wrong shape or labels out of range, or
            hyper-parameters that are not positive (``weight_decay`` and
            ``label_smoothing`` may be 0).

        Notes
        -----
        Adam uses ``beta1 = 0.9``, ``beta2 = 0.999``, ``eps = 1e-8`` and
        starts with zero moments at every call, so calling ``fit`` twice
        continues from the current weights but not from the optimiser's
        state.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.heads import MLPSoftmaxHead
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 2))
        >>> y = (X[:, 0] * X[:, 1] > 0).astype(int)  # XOR of the signs
        >>> head = MLPSoftmaxHead(2, 2, hidden_sizes=(16,), rng=0)
        >>> history = head.fit(X, y, epochs=100, lr=0.01, rng=0,
        ...                    progress=False)
        >>> len(history["train_loss"])
        100
        >>> bool(history["train_loss"][-1] < 0.2)
        True
        >>> bool((head.predict(X) == y).mean() > 0.95)
        True
        """
        func = "MLPSoftmaxHead.fit"
        X = self._check_X(X, func)
        n_samples = X.shape[0]
        y = _check_labels(y, n_samples, self.n_labels, func, name="y")
        epochs = _positive_int(epochs, "epochs", func)
        batch_size = _positive_int(batch_size, "batch_size", func)
        lr = _positive_float(lr, "lr", func)
        lam = _positive_float(
            weight_decay, "weight_decay", func, allow_zero=True
        )
        a = _check_smoothing(label_smoothing, func)
        if validation_data is not None:
            try:
                X_val, y_val = validation_data
            except (TypeError, ValueError):
                raise ValueError(
                    f"{func}: expected validation_data to be a pair "
                    f"(X_val, y_val), got {type(validation_data).__name__}."
                ) from None
            X_val = self._check_X(X_val, func)
            y_val = _check_labels(
                y_val, X_val.shape[0], self.n_labels, func, name="y_val"
            )
        gen = as_generator(rng, func)

        beta1, beta2, eps = 0.9, 0.999, 1e-8
        m = {k: np.zeros_like(p) for k, p in self._params.items()}
        v = {k: np.zeros_like(p) for k, p in self._params.items()}
        history = {"train_loss": []}
        if validation_data is not None:
            history["val_accuracy"] = []
        step = 0
        bar = tqdm(range(epochs), desc="epochs", disable=not progress)
        for _ in bar:
            order = gen.permutation(n_samples)
            total = 0.0
            for start in range(0, n_samples, batch_size):
                idx = order[start : start + batch_size]
                logits = self.forward(X[idx])
                total += float(cross_entropy(logits, y[idx], a, "sum"))
                dlogits = cross_entropy_grad(logits, y[idx], a)
                grads = self.backward(dlogits)
                # Adam: running means of g and g**2, bias-corrected step.
                step += 1
                scale = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                for name, p in self._params.items():
                    g = grads[name]
                    if lam > 0.0 and name[0] in "WU":
                        g += lam * p
                    m[name] *= beta1
                    m[name] += (1 - beta1) * g
                    v[name] *= beta2
                    v[name] += (1 - beta2) * (g * g)
                    p -= scale * m[name] / (np.sqrt(v[name]) + eps)
            history["train_loss"].append(total / n_samples)
            postfix = {"loss": f"{total / n_samples:.4f}"}
            if validation_data is not None:
                acc = float((self.predict(X_val) == y_val).mean())
                history["val_accuracy"].append(acc)
                postfix["val_acc"] = f"{acc:.3f}"
            bar.set_postfix(postfix)
        self._cache = None
        return history
