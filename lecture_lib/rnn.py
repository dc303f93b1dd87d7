"""Attention in RNNs: a GRU encoder-decoder with and without attention.

An encoder reads a source sequence of ``n`` tokens and returns one state
per position, ``h_1, ..., h_n``, each of size ``d_enc``. A decoder then
writes the target, one token per step; at step ``t`` its own state is
``s_t`` of size ``d``. Without attention, everything the decoder knows
about the source is squeezed into one vector, the encoder's final state.
With attention, every step scores all source positions against ``s_t``,
turns the scores into weights with a softmax over the ``n`` positions,

.. math:: \\alpha_{tj} = \\mathrm{softmax}_j(\\mathrm{score}(s_t, h_j)),
          \\qquad c_t = \\sum_j \\alpha_{tj} h_j ,

and reads the context ``c_t``: a weighted average of the encoder states,
which the weights ``alpha`` let us inspect as an alignment between target
and source. Three scores are provided:

* ``"dot"`` (Luong): ``s_t . h_j``, which needs ``d == d_enc``;
* ``"bilinear"`` (Luong's "general"): ``(s_t W) . h_j``;
* ``"additive"`` (Bahdanau): ``v . tanh(s_t W_q + h_j W_k)``.

``"none"`` gives the plain encoder-decoder, whose context is the final
encoder state at every step.

Everything, backpropagation through time included, is written out with
numpy, so that gradients can be checked with
:func:`lecture_lib.gradcheck.gradcheck`. Dimension names: ``batch``
sequences side by side, ``n`` source positions, ``m`` target positions,
``d`` the decoder's state size.
"""

import contextlib
import math
import numbers
import time

import numpy as np
from tqdm.auto import tqdm

from ._checks import as_generator, check_float_dtype
from .heads import cross_entropy, cross_entropy_grad
from .softmax import softmax

try:  # installed with scikit-learn
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

__all__ = ["ATTENTION_SCORES", "EncoderDecoder"]

#: The choices of ``EncoderDecoder(attention=...)``.
ATTENTION_SCORES = ("additive", "dot", "bilinear", "none")


# -- input checks ------------------------------------------------------


def _positive_int(value, name, func, minimum=1):
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and value >= minimum:
        return int(value)
    raise ValueError(
        f"{func}: expected {name} to be an int >= {minimum}, got "
        f"{value!r}. Pass, for example, {name}={max(minimum, 64)}."
    )


def _optional_positive_int(value, name, func):
    return None if value is None else _positive_int(value, name, func)


def _positive_float(value, name, func):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and math.isfinite(value) and value > 0:
        return float(value)
    raise ValueError(
        f"{func}: expected {name} to be a finite real number > 0, got "
        f"{value!r}. Pass, for example, {name}=5.0."
    )


def _optional_positive_float(value, name, func):
    return None if value is None else _positive_float(value, name, func)


def _check_ids(ids, name, vocab_size, func, length=None):
    """Return ``ids`` as an int64 array of shape (batch, length)."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"{func}: expected {name} to be integer token ids, got an array "
            f"of dtype {arr.dtype}. Encode strings first, e.g. with "
            f"lecture_lib.dates.SOURCE_VOCAB.encode(texts)."
        )
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"{func}: expected {name} of shape (batch, length) with batch "
            f">= 1 and length >= 1, got shape {arr.shape}. For a single "
            f"sequence, pass {name}[None, :]."
        )
    if length is not None and arr.shape[1] != length:
        raise ValueError(
            f"{func}: expected {name} with {length} columns, got shape "
            f"{arr.shape}. Pad or trim the sequences to {length} tokens."
        )
    if arr.min() < 0 or arr.max() >= vocab_size:
        bad = arr[(arr < 0) | (arr >= vocab_size)]
        raise ValueError(
            f"{func}: expected {name} in [0, {vocab_size}), the model's "
            f"vocabulary, got {bad.size} ids out of range (for example "
            f"{int(bad[0])}). Encode with the vocabulary whose size the "
            f"model was built with."
        )
    return arr.astype(np.int64, copy=False)


def _one_blas_thread():
    """Run BLAS on one thread inside a ``with`` block, if we can.

    The products here are small; on a busy two-core machine, a second
    BLAS thread made every update two to three times slower. A no-op
    when threadpoolctl is not installed.
    """
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# -- the GRU ---------------------------------------------------------------


def _sigmoid_(x):
    """``sigmoid(x) = 0.5 * (1 + tanh(x / 2))``, in place; returns x.

    One ``tanh`` and three cheap operations, no overflow for any input,
    and several times faster than ``scipy.special.expit`` here.
    """
    x *= 0.5
    np.tanh(x, out=x)
    x += 1.0
    x *= 0.5
    return x


def _gru_forward(xp, h0, Wh, bh):
    """Run ``k`` independent GRUs side by side over ``T`` steps.

    ``xp`` of shape (k, T, B, 3h) holds the input projections
    ``x_t W_x + b_x`` of every step, gates in the order update ``z``,
    reset ``r``, candidate ``n``; ``h0`` (k, B, h) the initial states;
    ``Wh`` (k, h, 3h) and ``bh`` (k, 1, 3h) the recurrent weights. With
    ``a = h_{t-1} W_h + b_h``::

        z = sigmoid(xp_z + a_z),  r = sigmoid(xp_r + a_r)
        n = tanh(xp_n + r * a_n),  h_t = (1 - z) * n + z * h_{t-1}

    Returns the states ``H`` of shape (k, T + 1, B, h), ``H[:, 0] = h0``,
    and what :func:`_gru_backward` needs.
    """
    k, T, B, h3 = xp.shape
    h = h3 // 3
    H = np.empty((k, T + 1, B, h), dtype=xp.dtype)
    H[:, 0] = h0
    A = np.empty((k, T, B, h3), dtype=xp.dtype)  # h_{t-1} W_h + b_h
    ZR = np.empty((k, T, B, 2 * h), dtype=xp.dtype)  # the two gates
    N = np.empty((k, T, B, h), dtype=xp.dtype)  # the candidates n
    for t in range(T):
        h_prev, a, zr, n = H[:, t], A[:, t], ZR[:, t], N[:, t]
        np.matmul(h_prev, Wh, out=a)  # (k, B, h) @ (k, h, 3h)
        a += bh
        np.add(xp[:, t, :, : 2 * h], a[..., : 2 * h], out=zr)
        _sigmoid_(zr)
        np.multiply(zr[..., h:], a[..., 2 * h :], out=n)
        n += xp[:, t, :, 2 * h :]
        np.tanh(n, out=n)
        # h_t = n + z * (h_{t-1} - n)
        h_new = H[:, t + 1]
        np.subtract(h_prev, n, out=h_new)
        h_new *= zr[..., :h]
        h_new += n
    return H, (ZR, N, A[..., 2 * h :])


def _gru_backward(H, cache, dH, Wh):
    """Backpropagation through time for :func:`_gru_forward`.

    ``dH`` of shape (k, T, B, h) is the gradient of the loss with respect
    to the outputs ``H[:, 1:]`` through everything except the recurrence.
    Returns ``dh0`` (k, B, h), ``dxp`` (k, T, B, 3h) the gradient with
    respect to the input projections, and ``dWh``, ``dbh``.
    """
    ZR, N, AN = cache
    k, T, B, h = N.shape
    z, r = ZR[..., :h], ZR[..., h:]
    H_prev = H[:, :-1]
    # Factors that do not depend on the incoming gradient, for all steps
    # at once: dL/d(pre-activation) = dL/dh_t * factor.
    one_minus_z = 1.0 - z
    f_n = one_minus_z * (1.0 - N * N)  # through n (before r * a_n)
    f_z = (H_prev - N) * z * one_minus_z  # through z
    f_r = AN * r * (1.0 - r)  # through r, times dL/d(n pre-activation)
    WhT = Wh.transpose(0, 2, 1)  # (k, 3h, h)

    dA = np.empty((k, T, B, 3 * h), dtype=N.dtype)  # d(h_{t-1} W_h + b_h)
    DN = np.empty((k, T, B, h), dtype=N.dtype)  # d(n pre-activation)
    dh = np.zeros((k, B, h), dtype=N.dtype)
    for t in range(T - 1, -1, -1):
        dh += dH[:, t]
        da = dA[:, t]
        dn = DN[:, t]
        np.multiply(dh, f_z[:, t], out=da[..., :h])
        np.multiply(dh, f_n[:, t], out=dn)
        np.multiply(dn, f_r[:, t], out=da[..., h : 2 * h])
        np.multiply(dn, r[:, t], out=da[..., 2 * h :])
        dh *= z[:, t]
        dh += np.matmul(da, WhT)  # (k, B, 3h) @ (k, 3h, h)
    # The input projections get the same gradient, except for the
    # candidate, where r does not multiply the input part.
    dxp = dA.copy()
    dxp[..., 2 * h :] = DN
    # Weight gradients: one product over all steps and examples.
    dWh = np.matmul(
        H_prev.reshape(k, T * B, h).transpose(0, 2, 1),
        dA.reshape(k, T * B, 3 * h),
    )  # (k, h, T B) @ (k, T B, 3h) -> (k, h, 3h)
    dbh = dA.sum(axis=(1, 2))[:, None, :]
    return dh, dxp, dWh, dbh


def _sum_by_token(ids, grad, n_tokens):
    """Sum the rows of ``grad`` that belong to the same token id.

    ``ids`` of shape (k, ...) and ``grad`` of shape (k, ..., c); returns
    shape (k, n_tokens, c). Done as a product with the one-hot encoding,
    many times faster than ``np.add.at``.
    """
    k = ids.shape[0]
    ids = ids.reshape(k, -1)
    onehot = np.zeros((k, n_tokens, ids.shape[1]), dtype=grad.dtype)
    np.put_along_axis(onehot, ids[:, None, :], 1.0, axis=1)
    return np.matmul(onehot, grad.reshape(k, ids.shape[1], -1))


def _minibatches(lengths, batch_size, bucket, gen):
    """Endless minibatches of example indices, reshuffled every epoch.

    With ``bucket``, each run of ``bucket`` consecutive batches of the
    shuffled order is sorted by source length before it is cut, and
    these batches come in random order: sources of similar lengths
    share a batch, and less time is spent on padding.
    """
    n_samples = lengths.size
    batch_size = min(batch_size, n_samples)
    while True:
        order = gen.permutation(n_samples)
        pool = batch_size * max(bucket, 1)
        for start in range(0, n_samples - batch_size + 1, pool):
            chunk = order[start : start + pool]
            chunk = chunk[: chunk.size - chunk.size % batch_size]
            if bucket > 1:
                chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            cut = chunk.reshape(-1, batch_size)
            if bucket > 1:
                cut = cut[gen.permutation(cut.shape[0])]
            yield from cut


# -- the model -------------------------------------------------------------


class EncoderDecoder:
    """A GRU encoder-decoder for token sequences, with or without attention.

    The encoder embeds the ``n`` source tokens and runs a GRU over them,
    forward and (by default) backward; the state of position ``j`` is
    ``h_j``, the concatenation of both directions, of size ``d_enc``. The
    decoder starts from ``s_0 = tanh(h_final W_init + b_init)``, where
    ``h_final`` joins the final states of both directions, and runs a GRU
    over the embedded previous target tokens (teacher forcing: the true
    ones during training, its own predictions when decoding). At step
    ``t``, with context ``c_t`` (see the module docstring), it predicts

    .. math:: \\tilde s_t = \\tanh(c_t W_c + s_t W_s + b_c), \\qquad
              p_t = \\mathrm{softmax}(\\tilde s_t W_o + b_o),

    the "global attention" of Luong et al. (2015). Without attention
    (``attention="none"``), ``c_t = h_final`` at every step.

    Parameters
    ----------
    n_source_tokens : int
        Size of the source vocabulary, at least 2.
    n_target_tokens : int
        Size of the target vocabulary, at least 2.
    attention : {"bilinear", "dot", "additive", "none"}, default="bilinear"
        The score of a source position (see the module docstring), or
        "none" (None is accepted too) for no attention.
    embed_size : int, default=16
        Size of the token embeddings, source and target.
    encoder_size : int, default=32
        State size of each encoder direction; ``d_enc`` is twice that
        when ``bidirectional``.
    decoder_size : int, default=64
        ``d``, the state size of the decoder.
    attention_size : int, default=32
        Hidden size of the additive score; unused otherwise.
    bidirectional : bool, default=True
        Run a second encoder GRU from the end of the source to its start.
    pad_id : int, default=0
        Id of the padding token, in both vocabularies. Source positions
        holding it get attention weight 0; target positions holding it are
        left out of the loss and of the accuracy.
    start_id : int, default=1
        Id of the target start token, the decoder's first input.
    dtype : {np.float32, np.float64}, default=np.float32
        dtype of every parameter, gradient and output: float32 for speed,
        float64 for gradient checks.
    rng : np.random.Generator, int or None, default=None
        Randomness of the initial weights.

    Attributes
    ----------
    parameters : dict of str to ndarray
        The model's own arrays by name (see Notes). Changing one in place
        changes the model, which is what
        :func:`lecture_lib.gradcheck.gradcheck` needs.
    d_enc : int
        Size of an encoder state ``h_j``.

    Raises
    ------
    ValueError
        If a size is not a positive int, the attention or the dtype is
        unknown, ``attention="dot"`` with ``decoder_size != d_enc``, or
        ``pad_id`` / ``start_id`` are out of range or equal.

    Notes
    -----
    Parameters, with ``k`` encoder directions (2 or 1), encoder state
    size ``h``, embedding size ``e``, decoder size ``d`` and gates in the
    order update, reset, candidate:

    ===================================== =================================
    ``src_embed``, ``tgt_embed``          ``(n_source_tokens, e)``,
                                          ``(n_target_tokens, e)``
    ``enc_Wx``, ``enc_Wh``                ``(k, e, 3h)``, ``(k, h, 3h)``;
                                          index 0 is the forward GRU
    ``enc_bx``, ``enc_bh``                ``(k, 3h)``
    ``init_W``, ``init_b``                ``(d_enc, d)``, ``(d,)``
    ``dec_Wx``, ``dec_Wh``                ``(e, 3d)``, ``(d, 3d)``
    ``dec_bx``, ``dec_bh``                ``(3d,)``
    ``att_W`` (bilinear)                  ``(d, d_enc)``
    ``att_Wq``, ``att_Wk``, ``att_v``     ``(d, a)``, ``(d_enc, a)``,
    (additive)                            ``(a,)``
    ``comb_Wc``, ``comb_Ws``, ``comb_b``  ``(d_enc, d)``, ``(d, d)``,
                                          ``(d,)``
    ``out_W``, ``out_b``                  ``(d, n_target_tokens)``,
                                          ``(n_target_tokens,)``
    ===================================== =================================

    The GRU follows the convention of PyTorch's ``nn.GRU``: the reset gate
    multiplies ``h W_hn + b_hn``. Sources are padded at the end. The
    backward encoder GRU reads every source from its last real token to
    its first, so padding never enters a final state; the states at
    padded positions are never used.

    Unlike Bahdanau et al. (2015), the context enters the output layer,
    not the decoder's recurrence, so the decoder states of a whole target
    can be computed first and attended to all at once. The scores are not
    divided by ``sqrt(d)``.

    Speed: the model computes in its dtype throughout (float32 is about
    twice as fast as float64 here), batches every step over the examples
    and loops in Python over time steps only, computes the three gates of
    a GRU with one matrix product, looks the input projections
    ``E W_x + b_x`` up per token instead of multiplying every embedded
    token, and forms each weight gradient with one product after the
    backward loop. With the default sizes, the date task of
    :mod:`lecture_lib.dates` reaches 99 % exact match on held-out dates
    after about 200 to 300 updates of 128 pairs. Larger models (e.g.
    ``encoder_size=64, decoder_size=128``) need fewer updates but cost
    two to three times as much per update.

    :meth:`fit`, :meth:`greedy_decode`, :meth:`predict` and
    :meth:`accuracy` run BLAS on one thread (through threadpoolctl, which
    scikit-learn installs): the matrices are small, and on a busy
    two-core machine a second BLAS thread made training two to three times
    slower. It also makes their results independent of the number of BLAS
    threads the process was started with.

    Limits: decoding is greedy and produces a fixed number of tokens (no
    end token, no beam search); there is no dropout or weight decay.

    Examples
    --------
    >>> import numpy as np
    >>> from lecture_lib.rnn import EncoderDecoder
    >>> model = EncoderDecoder(10, 6, attention="additive", embed_size=4,
    ...                        encoder_size=3, decoder_size=5,
    ...                        attention_size=2, rng=0)
    >>> model
    EncoderDecoder(10, 6, attention='additive', embed_size=4, \
encoder_size=3, decoder_size=5, attention_size=2, bidirectional=True, \
dtype=float32)
    >>> model.parameters["enc_Wh"].shape, model.d_enc
    ((2, 3, 9), 6)
    >>> src = np.array([[3, 4, 5, 0], [6, 7, 8, 9]])  # 0 pads the end
    >>> tgt = np.array([[2, 3, 4], [5, 4, 3]])
    >>> logits, weights = model.forward(src, tgt)
    >>> logits.shape, weights.shape  # (batch, m, vocab), (batch, m, n)
    ((2, 3, 6), (2, 3, 4))
    >>> weights[0].sum(axis=-1).round(6)  # a distribution over positions
    array([1., 1., 1.], dtype=float32)
    >>> weights[0, :, 3]  # no weight on padding
    array([0., 0., 0.], dtype=float32)
    """

    def __init__(
        self,
        n_source_tokens,
        n_target_tokens,
        attention="bilinear",
        embed_size=16,
        encoder_size=32,
        decoder_size=64,
        attention_size=32,
        bidirectional=True,
        pad_id=0,
        start_id=1,
        dtype=np.float32,
        rng=None,
    ):
        func = "EncoderDecoder"
        self.n_source_tokens = _positive_int(
            n_source_tokens, "n_source_tokens", func, minimum=2
        )
        self.n_target_tokens = _positive_int(
            n_target_tokens, "n_target_tokens", func, minimum=2
        )
        if attention is None:
            attention = "none"
        if attention not in ATTENTION_SCORES:
            raise ValueError(
                f"{func}: expected attention to be one of "
                f"{', '.join(map(repr, ATTENTION_SCORES))}, got "
                f"{attention!r}. Pass attention='none' for the model "
                f"without attention."
            )
        self.attention = attention
        self.embed_size = _positive_int(embed_size, "embed_size", func)
        self.encoder_size = _positive_int(encoder_size, "encoder_size", func)
        self.decoder_size = _positive_int(decoder_size, "decoder_size", func)
        self.attention_size = _positive_int(
            attention_size, "attention_size", func
        )
        if not isinstance(bidirectional, bool | np.bool_):
            raise ValueError(
                f"{func}: expected bidirectional to be True or False, got "
                f"{bidirectional!r}."
            )
        self.bidirectional = bool(bidirectional)
        self.n_directions = 2 if self.bidirectional else 1
        self.d_enc = self.n_directions * self.encoder_size
        if attention == "dot" and self.decoder_size != self.d_enc:
            raise ValueError(
                f"{func}: the dot score s_t . h_j needs decoder_size == "
                f"d_enc, the size of an encoder state ({self.d_enc} = "
                f"{self.n_directions} x encoder_size), got decoder_size="
                f"{self.decoder_size}. Pass decoder_size={self.d_enc}, or "
                f"attention='bilinear', which learns a map between them."
            )
        smallest = min(self.n_source_tokens, self.n_target_tokens)
        ids_ok = all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool)
            for v in (pad_id, start_id)
        )
        if (
            not ids_ok
            or not 0 <= pad_id < smallest
            or not 0 <= start_id < self.n_target_tokens
            or pad_id == start_id
        ):
            raise ValueError(
                f"{func}: expected two different token ids pad_id in [0, "
                f"{smallest}) and start_id in [0, {self.n_target_tokens}), "
                f"got pad_id={pad_id!r} and start_id={start_id!r}. With "
                f"lecture_lib.dates, pass pad_id=0 and start_id=1."
            )
        self.pad_id, self.start_id = int(pad_id), int(start_id)
        self.dtype = check_float_dtype(dtype, func)
        self._params = self._init_params(as_generator(rng, func))
        self._cache = None

    def _init_params(self, gen):
        """Uniform weights on +-1/sqrt(fan_in), embeddings N(0, 1)."""
        k, e = self.n_directions, self.embed_size
        h, d, a = self.encoder_size, self.decoder_size, self.attention_size

        def uniform(fan_in, *shape):
            limit = 1.0 / math.sqrt(fan_in)
            return gen.uniform(-limit, limit, size=shape).astype(self.dtype)

        def normal(*shape):
            return gen.standard_normal(shape).astype(self.dtype)

        p = {
            "src_embed": normal(self.n_source_tokens, e),
            "tgt_embed": normal(self.n_target_tokens, e),
            "enc_Wx": uniform(h, k, e, 3 * h),
            "enc_Wh": uniform(h, k, h, 3 * h),
            "enc_bx": uniform(h, k, 3 * h),
            "enc_bh": uniform(h, k, 3 * h),
            "init_W": uniform(self.d_enc, self.d_enc, d),
            "init_b": np.zeros(d, dtype=self.dtype),
            "dec_Wx": uniform(d, e, 3 * d),
            "dec_Wh": uniform(d, d, 3 * d),
            "dec_bx": uniform(d, 3 * d),
            "dec_bh": uniform(d, 3 * d),
        }
        if self.attention == "bilinear":
            p["att_W"] = uniform(d, d, self.d_enc)
        elif self.attention == "additive":
            p["att_Wq"] = uniform(d, d, a)
            p["att_Wk"] = uniform(self.d_enc, self.d_enc, a)
            p["att_v"] = uniform(a, a)
        p["comb_Wc"] = uniform(self.d_enc + d, self.d_enc, d)
        p["comb_Ws"] = uniform(self.d_enc + d, d, d)
        p["comb_b"] = np.zeros(d, dtype=self.dtype)
        p["out_W"] = uniform(d, d, self.n_target_tokens)
        p["out_b"] = np.zeros(self.n_target_tokens, dtype=self.dtype)
        return p

    @property
    def parameters(self):
        """dict of str to ndarray: the model's own arrays, by name."""
        return dict(self._params)

    def __repr__(self):
        sizes = (
            f"embed_size={self.embed_size}, encoder_size="
            f"{self.encoder_size}, decoder_size={self.decoder_size}"
        )
        if self.attention == "additive":
            sizes += f", attention_size={self.attention_size}"
        return (
            f"EncoderDecoder({self.n_source_tokens}, "
            f"{self.n_target_tokens}, attention={self.attention!r}, "
            f"{sizes}, bidirectional={self.bidirectional}, "
            f"dtype={self.dtype.name})"
        )

    # -- encoder -----------------------------------------------------------

    def _encode(self, src):
        """Encoder states of ``src`` (batch, n), with a cache for backward.

        Returns ``enc`` (batch, n, d_enc), ``h_final`` (batch, d_enc), the
        additive mask ``bias`` (batch, 1, n) holding 0 or -inf, and the
        cache.
        """
        p = self._params
        B, n = src.shape
        k, h = self.n_directions, self.encoder_size
        mask = src != self.pad_id
        lengths = mask.sum(axis=1)  # (batch,)
        # order[i, b, s]: the position direction i reads at step s.
        # Forward: s itself. Backward: the real tokens from last to first,
        # then the padding. Each map is its own inverse, so it also sends
        # steps back to positions.
        steps = np.arange(n)
        rev = lengths[:, None] - 1 - steps
        rev = np.where(rev >= 0, rev, steps)  # (batch, n)
        order = np.stack([np.broadcast_to(steps, (B, n)), rev])[:k]
        rows = np.arange(B)[:, None]
        ids = src[rows, order].transpose(0, 2, 1)  # (k, n, batch)

        # x_t W_x + b_x for every token: one row per vocabulary entry,
        # E W_x + b_x of shape (k, n_source_tokens, 3h), then looked up.
        table = np.matmul(p["src_embed"], p["enc_Wx"])
        table += p["enc_bx"][:, None, :]
        xp = table[np.arange(k)[:, None, None], ids]  # (k, n, batch, 3h)
        h0 = np.zeros((k, B, h), dtype=self.dtype)
        bh = p["enc_bh"][:, None, :]
        H, gru_cache = _gru_forward(xp, h0, p["enc_Wh"], bh)

        # States by position, (batch, n, d_enc): direction i's state of
        # position j is its output at the step that read j.
        enc = np.empty((B, n, self.d_enc), dtype=self.dtype)
        for i in range(k):
            out = H[i, 1:].transpose(1, 0, 2)  # (batch, n, h) by step
            enc[:, :, i * h : (i + 1) * h] = out[rows, order[i]]
        # Each direction's final state: after its last real token.
        h_final = H[:, lengths, np.arange(B)]  # (k, batch, h)
        h_final = h_final.transpose(1, 0, 2).reshape(B, self.d_enc)
        bias = np.where(mask, 0.0, -np.inf).astype(self.dtype)[:, None, :]
        cache = (ids, H, gru_cache, order, lengths)
        return enc, h_final, bias, cache

    def _encode_backward(self, cache, denc, dh_final, grads):
        """Gradients of the encoder, from those of ``enc`` and ``h_final``."""
        p = self._params
        ids, H, gru_cache, order, lengths = cache
        B, n = order.shape[1:]
        k, h = self.n_directions, self.encoder_size
        rows = np.arange(B)[:, None]
        dH = np.empty((k, n, B, h), dtype=self.dtype)  # by step
        for i in range(k):
            part = denc[:, :, i * h : (i + 1) * h]
            dH[i] = part[rows, order[i]].transpose(1, 0, 2)
            final = dh_final[:, i * h : (i + 1) * h]
            dH[i, lengths - 1, np.arange(B)] += final
        _, dxp, dWh, dbh = _gru_backward(H, gru_cache, dH, p["enc_Wh"])
        grads["enc_Wh"] = dWh
        grads["enc_bh"] = dbh[:, 0, :]
        # Gradient of the lookup table: the rows of dxp summed by token,
        # as one product with the one-hot encoding of the ids.
        dtable = _sum_by_token(ids, dxp, self.n_source_tokens)
        E, Wx = p["src_embed"], p["enc_Wx"]
        grads["enc_Wx"] = np.matmul(E.T, dtable)  # (k, e, 3h)
        grads["enc_bx"] = dtable.sum(axis=1)
        grads["src_embed"] = np.matmul(dtable, Wx.transpose(0, 2, 1)).sum(0)

    # -- attention ---------------------------------------------------------

    def _keys(self, enc):
        """What the score compares with the queries, for every position."""
        if self.attention != "additive":
            return enc
        B, n, de = enc.shape
        W = self._params["att_Wk"]
        return (enc.reshape(B * n, de) @ W).reshape(B, n, -1)

    def _attend(self, S, enc, keys, bias):
        """Contexts, weights (batch, m, n) and cache for states ``S``."""
        p = self._params
        B, m, d = S.shape
        if self.attention == "dot":
            q = S
        elif self.attention == "bilinear":
            q = (S.reshape(B * m, d) @ p["att_W"]).reshape(B, m, -1)
        else:
            q = (S.reshape(B * m, d) @ p["att_Wq"]).reshape(B, m, 1, -1)
        if self.attention == "additive":
            act = np.tanh(q + keys[:, None, :, :])  # (batch, m, n, a)
            scores = act @ p["att_v"]  # (batch, m, n)
        else:
            act = None
            scores = q @ keys.transpose(0, 2, 1)  # (batch, m, n)
        scores += bias  # -inf on padding
        weights = softmax(scores, axis=-1)
        context = weights @ enc  # (batch, m, n) @ (batch, n, d_enc)
        return context, weights, (q, act)

    def _attend_backward(self, dctx, S, enc, keys, weights, cache, grads):
        """Gradients of S and enc from that of the contexts."""
        p = self._params
        q, act = cache
        B, m, d = S.shape
        n, de = enc.shape[1:]
        dweights = dctx @ enc.transpose(0, 2, 1)  # (batch, m, n)
        denc = weights.transpose(0, 2, 1) @ dctx  # (batch, n, d_enc)
        # Softmax backward: dscore = w * (dw - sum_j w_j dw_j).
        dscores = dweights
        dscores -= (dweights * weights).sum(axis=-1, keepdims=True)
        dscores *= weights
        if self.attention != "additive":
            # scores = q . h_j, with q = s (dot) or s W (bilinear).
            dq = dscores @ enc  # (batch, m, d_enc)
            denc += dscores.transpose(0, 2, 1) @ q
            if self.attention == "dot":
                return dq, denc
            dq = dq.reshape(B * m, de)
            grads["att_W"] = S.reshape(B * m, d).T @ dq
            return (dq @ p["att_W"].T).reshape(B, m, d), denc
        # scores = v . tanh(s W_q + h_j W_k).
        a = self.attention_size
        dpre = dscores[..., None] * (1.0 - act * act)
        dpre *= p["att_v"]  # (batch, m, n, a)
        grads["att_v"] = np.tensordot(
            dscores, act, axes=([0, 1, 2], [0, 1, 2])
        )
        dq = dpre.sum(axis=2).reshape(B * m, a)
        dkeys = dpre.sum(axis=1).reshape(B * n, a)
        grads["att_Wq"] = S.reshape(B * m, d).T @ dq
        grads["att_Wk"] = enc.reshape(B * n, de).T @ dkeys
        denc += (dkeys @ p["att_Wk"].T).reshape(B, n, de)
        return (dq @ p["att_Wq"].T).reshape(B, m, d), denc

    # -- whole model ---------------------------------------------------------

    def _decoder_init(self, h_final):
        p = self._params
        return np.tanh(h_final @ p["init_W"] + p["init_b"])  # (batch, d)

    def _run(self, src, tgt):
        """Teacher-forced forward pass; returns logits (B m, V) and cache."""
        p = self._params
        B, m = tgt.shape
        d = self.decoder_size
        enc, h_final, bias, enc_cache = self._encode(src)
        s0 = self._decoder_init(h_final)

        # Decoder inputs: the start token, then the target shifted right.
        tgt_in = np.empty((m, B), dtype=np.int64)
        tgt_in[0] = self.start_id
        tgt_in[1:] = tgt[:, :-1].T
        # Input projections by lookup, as in the encoder.
        table = p["tgt_embed"] @ p["dec_Wx"] + p["dec_bx"]  # (V, 3d)
        Hd, dec_cache = _gru_forward(
            table[tgt_in][None],  # (1, m, batch, 3d)
            s0[None],
            p["dec_Wh"][None],
            p["dec_bh"][None, None, :],
        )
        S = np.ascontiguousarray(Hd[0, 1:].transpose(1, 0, 2))  # (B, m, d)

        if self.attention == "none":
            keys = weights = att_cache = ctx = None
            # The same context, h_final, at every step.
            pre = (h_final @ p["comb_Wc"])[:, None, :] + (S @ p["comb_Ws"])
        else:
            keys = self._keys(enc)
            ctx, weights, att_cache = self._attend(S, enc, keys, bias)
            pre = ctx @ p["comb_Wc"] + S @ p["comb_Ws"]  # (B, m, d)
        pre += p["comb_b"]
        St = np.tanh(pre).reshape(B * m, d)  # the attentional states
        logits = St @ p["out_W"] + p["out_b"]  # (B m, V)
        cache = (
            enc,
            h_final,
            enc_cache,
            s0,
            tgt_in,
            Hd,
            dec_cache,
            S,
            keys,
            weights,
            att_cache,
            ctx,
            St,
        )
        return logits, weights, cache

    def _backward(self, dlogits, cache):
        """Gradients of every parameter from those of the logits."""
        p = self._params
        (
            enc,
            h_final,
            enc_cache,
            s0,
            tgt_in,
            Hd,
            dec_cache,
            S,
            keys,
            weights,
            att_cache,
            ctx,
            St,
        ) = cache
        B, m, d = S.shape
        de = self.d_enc
        grads = {}

        # Output layer and combination: St = tanh(c W_c + s W_s + b_c).
        grads["out_W"] = St.T @ dlogits
        grads["out_b"] = dlogits.sum(axis=0)
        dpre = dlogits @ p["out_W"].T
        dpre *= 1.0 - St * St  # (B m, d)
        grads["comb_b"] = dpre.sum(axis=0)
        grads["comb_Ws"] = S.reshape(B * m, d).T @ dpre
        dS = (dpre @ p["comb_Ws"].T).reshape(B, m, d)
        if self.attention == "none":
            dpre_sum = dpre.reshape(B, m, d).sum(axis=1)  # (B, d)
            grads["comb_Wc"] = h_final.T @ dpre_sum
            dh_final = dpre_sum @ p["comb_Wc"].T
            denc = np.zeros_like(enc)
        else:
            grads["comb_Wc"] = ctx.reshape(B * m, de).T @ dpre
            dctx = (dpre @ p["comb_Wc"].T).reshape(B, m, de)
            dS_att, denc = self._attend_backward(
                dctx, S, enc, keys, weights, att_cache, grads
            )
            dS += dS_att
            dh_final = np.zeros_like(h_final)

        # Decoder GRU, through time.
        dHd = np.ascontiguousarray(dS.transpose(1, 0, 2))[None]
        ds0, dxp, dWh, dbh = _gru_backward(
            Hd, dec_cache, dHd, p["dec_Wh"][None]
        )
        grads["dec_Wh"] = dWh[0]
        grads["dec_bh"] = dbh[0, 0]
        dtable = _sum_by_token(tgt_in[None], dxp, self.n_target_tokens)[0]
        grads["dec_Wx"] = p["tgt_embed"].T @ dtable
        grads["dec_bx"] = dtable.sum(axis=0)
        grads["tgt_embed"] = dtable @ p["dec_Wx"].T

        # Decoder start: s0 = tanh(h_final W_init + b_init).
        dpre0 = ds0[0] * (1.0 - s0 * s0)
        grads["init_W"] = h_final.T @ dpre0
        grads["init_b"] = dpre0.sum(axis=0)
        dh_final += dpre0 @ p["init_W"].T

        self._encode_backward(enc_cache, denc, dh_final, grads)
        return {name: grads[name] for name in self._params}

    # -- loss -----------------------------------------------------------------

    def _loss_grad(self, logits, tgt):
        """Mean cross-entropy over non-padding targets, and its gradient."""
        labels = tgt.reshape(-1)
        keep = labels != self.pad_id
        if keep.all():
            loss = cross_entropy(logits, labels)
            return loss, cross_entropy_grad(logits, labels)
        count = max(int(keep.sum()), 1)
        w = (keep / count).astype(self.dtype)
        loss = (cross_entropy(logits, labels, reduction="none") * w).sum()
        dlogits = cross_entropy_grad(logits, labels, reduction="none")
        dlogits *= w[:, None]
        return loss, dlogits

    def _check_pair(self, src, tgt, func):
        src = _check_ids(src, "src", self.n_source_tokens, func)
        if (src == self.pad_id).all(axis=1).any():
            row = int(np.flatnonzero((src == self.pad_id).all(axis=1))[0])
            raise ValueError(
                f"{func}: expected every source to hold at least one token "
                f"other than pad_id={self.pad_id}, got only padding in row "
                f"{row}. Drop empty sources before calling {func}."
            )
        if tgt is None:
            return src, None
        tgt = _check_ids(tgt, "tgt", self.n_target_tokens, func)
        if tgt.shape[0] != src.shape[0]:
            raise ValueError(
                f"{func}: expected one target per source, got "
                f"{src.shape[0]} sources and {tgt.shape[0]} targets. Pass "
                f"src and tgt of shapes (batch, n) and (batch, m)."
            )
        return src, tgt

    def forward(self, src, tgt):
        """Teacher-forced logits and attention weights, kept for backward.

        Parameters
        ----------
        src : array_like of int, shape (batch, n)
            Source token ids, padded at the end with ``pad_id``; every row
            holds at least one other token.
        tgt : array_like of int, shape (batch, m)
            Target token ids. The decoder reads the start token and
            ``tgt[:, :-1]`` (teacher forcing) and predicts ``tgt``.

        Returns
        -------
        logits : ndarray of shape (batch, m, n_target_tokens)
        weights : ndarray of shape (batch, m, n), or None
            Attention weights: each row sums to 1 over the source
            positions and is 0 on padding. None without attention.

        Raises
        ------
        ValueError
            If ``src`` or ``tgt`` is not an integer array of shape (batch,
            length), holds ids outside the vocabularies, their batch
            sizes differ, or a source holds only padding.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.rnn import EncoderDecoder
        >>> model = EncoderDecoder(5, 4, attention="none", embed_size=2,
        ...                        encoder_size=2, decoder_size=3, rng=0)
        >>> logits, weights = model.forward([[1, 2, 3]], [[2, 3]])
        >>> logits.shape, logits.dtype, weights
        ((1, 2, 4), dtype('float32'), None)
        """
        src, tgt = self._check_pair(src, tgt, "EncoderDecoder.forward")
        logits, weights, cache = self._run(src, tgt)
        self._cache = (cache, tgt.shape)
        return logits.reshape(*tgt.shape, -1), weights

    def backward(self, dlogits):
        """Gradients of a loss with respect to every parameter.

        Parameters
        ----------
        dlogits : array_like of shape (batch, m, n_target_tokens)
            Gradient of the loss with respect to the logits of the last
            :meth:`forward`.

        Returns
        -------
        grads : dict of str to ndarray
            One gradient per entry of :attr:`parameters`, with the same
            names, shapes and dtype.

        Raises
        ------
        ValueError
            If :meth:`forward` has not been called, or ``dlogits`` does
            not have the shape of its logits.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.rnn import EncoderDecoder
        >>> model = EncoderDecoder(5, 4, embed_size=2, encoder_size=2,
        ...                        decoder_size=3, rng=0)
        >>> logits, _ = model.forward([[1, 2, 3]], [[2, 3]])
        >>> grads = model.backward(np.ones_like(logits))
        >>> grads["out_b"]  # d(sum of logits) / d out_b = batch * m
        array([2., 2., 2., 2.], dtype=float32)
        """
        func = "EncoderDecoder.backward"
        if self._cache is None:
            raise ValueError(
                f"{func}: no forward pass to differentiate. Call "
                f"forward(src, tgt) first, then backward(dlogits)."
            )
        cache, (B, m) = self._cache
        g = np.asarray(dlogits)
        expected = (B, m, self.n_target_tokens)
        if g.shape != expected or g.dtype.kind not in "fiu":
            raise ValueError(
                f"{func}: expected real dlogits of shape (batch, m, "
                f"n_target_tokens) = {expected}, the shape of the last "
                f"forward pass's logits, got shape {g.shape} and dtype "
                f"{g.dtype}."
            )
        g = g.astype(self.dtype, copy=False).reshape(B * m, -1)
        return self._backward(g, cache)

    def loss_and_grads(self, src, tgt):
        """Mean cross-entropy of the target tokens, and its gradients.

        Parameters
        ----------
        src : array_like of int, shape (batch, n)
            As for :meth:`forward`.
        tgt : array_like of int, shape (batch, m)
            As for :meth:`forward`. Positions holding ``pad_id`` are left
            out of the mean.

        Returns
        -------
        loss : ndarray of shape ()
            ``-log p`` of the correct token, averaged over the target
            tokens that are not padding, in the model's dtype.
        grads : dict of str to ndarray
            Its gradient for every parameter, by backpropagation through
            time.

        Raises
        ------
        ValueError
            As for :meth:`forward`.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.gradcheck import gradcheck
        >>> from lecture_lib.rnn import EncoderDecoder
        >>> model = EncoderDecoder(6, 5, embed_size=3, encoder_size=2,
        ...                        decoder_size=3, dtype=np.float64, rng=0)
        >>> src, tgt = [[2, 3, 4, 0], [5, 4, 3, 2]], [[2, 3], [4, 2]]
        >>> loss, grads = model.loss_and_grads(src, tgt)
        >>> report = gradcheck(
        ...     lambda: float(model.loss_and_grads(src, tgt)[0]),
        ...     model.parameters, grads, h=1e-5, atol=1e-5)
        >>> report.passed
        True
        """
        func = "EncoderDecoder.loss_and_grads"
        src, tgt = self._check_pair(src, tgt, func)
        return self._loss_and_grads(src, tgt)

    def _loss_and_grads(self, src, tgt):
        logits, _, cache = self._run(src, tgt)
        loss, dlogits = self._loss_grad(logits, tgt)
        return np.asarray(loss, dtype=self.dtype), self._backward(
            dlogits, cache
        )

    # -- decoding ---------------------------------------------------------

    def greedy_decode(self, src, length):
        """Translate by always feeding back the most probable token.

        Parameters
        ----------
        src : array_like of int, shape (batch, n)
            Source token ids, padded at the end with ``pad_id``.
        length : int
            ``m``, the number of tokens to produce.

        Returns
        -------
        ids : ndarray of int64, shape (batch, m)
            The predicted target tokens.
        weights : ndarray of shape (batch, m, n), or None
            The attention weights of every step, for alignment plots: row
            ``t`` says where the decoder looked to write token ``t``. Each
            row sums to 1 and is 0 on padding. None without attention.

        Raises
        ------
        ValueError
            If ``src`` is not valid (see :meth:`forward`) or ``length`` is
            not a positive int.

        Examples
        --------
        >>> import numpy as np
        >>> from lecture_lib.rnn import EncoderDecoder
        >>> model = EncoderDecoder(6, 5, embed_size=3, encoder_size=2,
        ...                        decoder_size=3, rng=0)
        >>> ids, weights = model.greedy_decode([[2, 3, 0], [4, 5, 3]], 4)
        >>> ids.shape, weights.shape
        ((2, 4), (2, 4, 3))
        >>> weights[0, :, 2]  # the padded position gets no weight
        array([0., 0., 0., 0.], dtype=float32)
        """
        func = "EncoderDecoder.greedy_decode"
        src, _ = self._check_pair(src, None, func)
        length = _positive_int(length, "length", func)
        with _one_blas_thread():
            return self._greedy(src, length)

    def _greedy(self, src, length):
        p = self._params
        B, n = src.shape
        d = self.decoder_size
        enc, h_final, bias, _ = self._encode(src)
        s = self._decoder_init(h_final)[None]  # (1, B, d)
        if self.attention == "none":
            fixed = (h_final @ p["comb_Wc"])[:, None, :]
            all_weights = None
        else:
            keys = self._keys(enc)
            all_weights = np.empty((B, length, n), dtype=self.dtype)
        ids = np.empty((B, length), dtype=np.int64)
        prev = np.full(B, self.start_id, dtype=np.int64)
        Wh, bh = p["dec_Wh"][None], p["dec_bh"][None, None, :]
        for t in range(length):
            xp = p["tgt_embed"][prev] @ p["dec_Wx"] + p["dec_bx"]
            H, _ = _gru_forward(xp.reshape(1, 1, B, 3 * d), s, Wh, bh)
            s = H[:, 1]  # (1, B, d)
            S = s.reshape(B, 1, d)
            if self.attention == "none":
                pre = fixed + S @ p["comb_Ws"]
            else:
                ctx, w, _ = self._attend(S, enc, keys, bias)
                all_weights[:, t] = w[:, 0]
                pre = ctx @ p["comb_Wc"] + S @ p["comb_Ws"]
            pre += p["comb_b"]
            logits = np.tanh(pre[:, 0]) @ p["out_W"] + p["out_b"]
            prev = logits.argmax(axis=-1)
            ids[:, t] = prev
        return ids, all_weights

    def predict(self, src, length, batch_size=1000):
        """Greedy translations of many sources, in chunks.

        Parameters
        ----------
        src : array_like of int, shape (batch, n)
            Source token ids, padded at the end with ``pad_id``.
        length : int
            ``m``, the number of tokens to produce.
        batch_size : int, default=1000
            Sources decoded at once.

        Returns
        -------
        ids : ndarray of int64, shape (batch, m)

        Raises
        ------
        ValueError
            As for :meth:`greedy_decode`.

        Examples
        --------
        >>> from lecture_lib.rnn import EncoderDecoder
        >>> model = EncoderDecoder(6, 5, embed_size=3, encoder_size=2,
        ...                        decoder_size=3, rng=0)
        >>> model.predict([[2, 3, 0], [4, 5, 3]], 4).shape
        (2, 4)
        """
        func = "EncoderDecoder.predict"
        src, _ = self._check_pair(src, None, func)
        length = _positive_int(length, "length", func)
        batch_size = _positive_int(batch_size, "batch_size", func)
        with _one_blas_thread():
            return self._predict(src, length, batch_size)

    def _predict(self, src, length, batch_size=1000):
        out = np.empty((src.shape[0], length), dtype=np.int64)
        lengths = (src != self.pad_id).sum(axis=1)
        for start in range(0, src.shape[0], batch_size):
            part = slice(start, start + batch_size)
            n = int(lengths[part].max())
            out[part] = self._greedy(src[part, :n], length)[0]
        return out

    def accuracy(self, src, tgt, batch_size=1000):
        """Exact-match accuracy of greedy decoding.

        Parameters
        ----------
        src : array_like of int, shape (batch, n)
            Source token ids.
        tgt : array_like of int, shape (batch, m)
            The correct targets; ``m`` tokens are decoded.
        batch_size : int, default=1000
            Sources decoded at once.

        Returns
        -------
        accuracy : float
            The fraction of sources whose every target token (padding
            aside) is predicted correctly.

        Raises
        ------
        ValueError
            As for :meth:`forward`.

        Examples
        --------
        >>> from lecture_lib.rnn import EncoderDecoder
        >>> model = EncoderDecoder(6, 5, embed_size=3, encoder_size=2,
        ...                        decoder_size=3, rng=0)
        >>> src, tgt = [[2, 3, 0], [4, 5, 3]], [[2, 2], [3, 3]]
        >>> acc = model.accuracy(src, tgt)
        >>> 0.0 <= acc <= 1.0
        True
        """
        func = "EncoderDecoder.accuracy"
        src, tgt = self._check_pair(src, tgt, func)
        batch_size = _positive_int(batch_size, "batch_size", func)
        with _one_blas_thread():
            return self._accuracy(src, tgt, batch_size)

    def _accuracy(self, src, tgt, batch_size=1000):
        pred = self._predict(src, tgt.shape[1], batch_size)
        right = (pred == tgt) | (tgt == self.pad_id)
        return float(right.all(axis=1).mean())

    # -- training -----------------------------------------------------------

    def fit(
        self,
        src,
        tgt,
        validation_data=None,
        steps=1000,
        max_seconds=None,
        batch_size=128,
        lr=0.005,
        clip_norm=5.0,
        bucket=8,
        eval_every=50,
        callback=None,
        rng=None,
        progress=True,
    ):
        """Train every parameter with Adam on shuffled minibatches.

        Training stops after ``steps`` updates, or once the training time
        reaches ``max_seconds``, whichever comes first.

        Parameters
        ----------
        src : array_like of int, shape (n_samples, n)
            Training sources, padded at the end with ``pad_id``.
        tgt : array_like of int, shape (n_samples, m)
            Training targets.
        validation_data : tuple (src_val, tgt_val), optional
            Held-out pairs, scored by exact-match accuracy of greedy
            decoding at step 0, every ``eval_every`` steps and at the end.
        steps : int, default=1000
            Largest number of updates.
        max_seconds : float, optional
            Time budget: training stops at the first update that brings
            the training time to ``max_seconds`` or more. Evaluation does
            not count.
        batch_size : int, default=128
            Examples per update. Each minibatch is trimmed to its longest
            source.
        lr : float, default=0.005
            Adam step size.
        clip_norm : float or None, default=5.0
            If the norm of all gradients together exceeds it, they are
            scaled down to it. None turns clipping off.
        bucket : int, default=8
            Sort each run of ``bucket`` minibatches by source length
            before cutting it, so that a batch holds sources of similar
            lengths and little padding; ``1`` turns this off.
        eval_every : int, default=50
            Updates between two records of the history.
        callback : callable, optional
            ``callback(record)`` after every record, with the dict of
            that record's values (keys as in ``history``, one value
            each). If it returns True, training stops.
        rng : np.random.Generator, int or None, default=None
            Randomness of the shuffling.
        progress : bool, default=True
            Show a progress bar over the updates; False shows nothing.

        Returns
        -------
        history : dict of str to list
            One entry per record: ``"step"``, the number of updates so
            far; ``"seconds"``, the training time so far (evaluation
            excluded); ``"train_loss"``, the mean loss of the minibatches
            since the previous record (NaN at step 0); and, with
            ``validation_data``, ``"val_accuracy"``.

        Raises
        ------
        ValueError
            For data of the wrong shape or ids out of range, or
            hyper-parameters that are not positive.

        Notes
        -----
        Adam uses ``beta1 = 0.9``, ``beta2 = 0.999``, ``eps = 1e-8`` and
        starts with zero moments at every call. For a fixed ``steps``,
        seed and number of BLAS threads, the result is the same on every
        run; ``max_seconds`` makes it depend on the machine's speed. The
        budget is checked after every update, so the training time can
        exceed it by at most one update.

        Examples
        --------
        >>> from lecture_lib.dates import (SOURCE_VOCAB, TARGET_VOCAB,
        ...                                make_date_split)
        >>> from lecture_lib.rnn import EncoderDecoder
        >>> src_tr, src_ho, tgt_tr, tgt_ho = make_date_split(2000, 200, 0)
        >>> X, Y = SOURCE_VOCAB.encode(src_tr), TARGET_VOCAB.encode(tgt_tr)
        >>> Xv, Yv = SOURCE_VOCAB.encode(src_ho), TARGET_VOCAB.encode(tgt_ho)
        >>> model = EncoderDecoder(len(SOURCE_VOCAB), len(TARGET_VOCAB),
        ...                        encoder_size=16, decoder_size=32, rng=0)
        >>> history = model.fit(X, Y, validation_data=(Xv, Yv), steps=40,
        ...                     eval_every=20, rng=0, progress=False)
        >>> history["step"]
        [0, 20, 40]
        >>> bool(history["train_loss"][2] < history["train_loss"][1])
        True
        """
        func = "EncoderDecoder.fit"
        src, tgt = self._check_pair(src, tgt, func)
        val = None
        if validation_data is not None:
            try:
                src_val, tgt_val = validation_data
            except (TypeError, ValueError):
                raise ValueError(
                    f"{func}: expected validation_data to be a pair "
                    f"(src_val, tgt_val), got "
                    f"{type(validation_data).__name__}."
                ) from None
            val = self._check_pair(src_val, tgt_val, func)
        steps = _positive_int(steps, "steps", func)
        max_seconds = _optional_positive_float(
            max_seconds, "max_seconds", func
        )
        batch_size = _positive_int(batch_size, "batch_size", func)
        lr = _positive_float(lr, "lr", func)
        clip_norm = _optional_positive_float(clip_norm, "clip_norm", func)
        bucket = _positive_int(bucket, "bucket", func)
        eval_every = _positive_int(eval_every, "eval_every", func)
        if callback is not None and not callable(callback):
            raise ValueError(
                f"{func}: expected callback to be callable or None, got "
                f"{type(callback).__name__}. Pass e.g. callback=lambda "
                f"record: record['val_accuracy'] >= 0.99."
            )
        gen = as_generator(rng, func)

        # One BLAS thread: see the class Notes.
        with _one_blas_thread():
            return self._train(
                src,
                tgt,
                val,
                steps,
                max_seconds,
                batch_size,
                lr,
                clip_norm,
                bucket,
                eval_every,
                callback,
                gen,
                progress,
            )

    def _train(
        self,
        src,
        tgt,
        val,
        steps,
        max_seconds,
        batch_size,
        lr,
        clip_norm,
        bucket,
        eval_every,
        callback,
        gen,
        progress,
    ):
        """The loop of :meth:`fit`, on checked arguments."""
        lengths = (src != self.pad_id).sum(axis=1)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        m1 = {k: np.zeros_like(v) for k, v in self._params.items()}
        m2 = {k: np.zeros_like(v) for k, v in self._params.items()}
        history = {"step": [], "seconds": [], "train_loss": []}
        if val is not None:
            history["val_accuracy"] = []
        losses = []
        step, seconds = 0, 0.0

        def record():
            history["step"].append(step)
            history["seconds"].append(seconds)
            mean = float(np.mean(losses)) if losses else float("nan")
            history["train_loss"].append(mean)
            losses.clear()
            if val is not None:
                history["val_accuracy"].append(self._accuracy(*val))
            values = {key: v[-1] for key, v in history.items()}
            if val is not None:
                bar.set_postfix(val_acc=f"{values['val_accuracy']:.3f}")
            return callback is not None and bool(callback(values))

        bar = tqdm(total=steps, desc="steps", disable=not progress)
        batches = _minibatches(lengths, batch_size, bucket, gen)
        stop = record()
        while not stop and step < steps:
            idx = next(batches)
            n = int(lengths[idx].max())
            started = time.perf_counter()
            loss, grads = self._loss_and_grads(src[idx, :n], tgt[idx])
            if clip_norm is not None:
                total = math.sqrt(
                    sum(float(np.vdot(g, g)) for g in grads.values())
                )
                if total > clip_norm:
                    for g in grads.values():
                        g *= clip_norm / total
            # Adam: running means of g and g**2, bias-corrected step.
            step += 1
            scale = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
            for name, value in self._params.items():
                g = grads[name]
                m1[name] *= beta1
                m1[name] += (1 - beta1) * g
                m2[name] *= beta2
                g *= g
                g *= 1 - beta2
                m2[name] += g
                value -= scale * m1[name] / (np.sqrt(m2[name]) + eps)
            seconds += time.perf_counter() - started
            losses.append(float(loss))
            bar.update(1)
            out_of_time = max_seconds is not None and seconds >= max_seconds
            if step % eval_every == 0 or step == steps or out_of_time:
                stop = record()
            if out_of_time:
                break
        bar.close()
        self._cache = None
        return history
