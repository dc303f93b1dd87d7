"""Tests for :mod:`lecture_lib.rnn`.

Oracles: a plain float64 re-implementation of the model, one example and
one step at a time (GRU cells written from their equations, the backward
encoder run over the reversed real tokens, scipy's softmax and expit),
for the logits, the attention weights and greedy decoding; central
differences (:mod:`lecture_lib.gradcheck`, float64) for every gradient of
every variant. Warnings are errors. No test measures time.
"""

import numpy as np
import pytest
import scipy.special

from lecture_lib.dates import SOURCE_VOCAB, TARGET_VOCAB, make_date_split
from lecture_lib.gradcheck import gradcheck
from lecture_lib.rnn import ATTENTION_SCORES, EncoderDecoder, _minibatches

pytestmark = pytest.mark.filterwarnings("error")

VARIANTS = [
    (attention, bidirectional)
    for attention in ATTENTION_SCORES
    for bidirectional in (True, False)
]
# Sources padded at the end with 0; targets may end with padding too.
SRC = np.array([[2, 3, 4, 0, 0], [5, 4, 3, 2, 6], [7, 2, 0, 0, 0]])
TGT = np.array([[2, 3, 4], [4, 2, 0], [3, 3, 3]])


def tiny(attention, bidirectional=True, dtype=np.float64, seed=0):
    """A model small enough for central differences."""
    return EncoderDecoder(
        8,
        5,
        attention=attention,
        embed_size=3,
        encoder_size=2,
        decoder_size=4 if bidirectional else 2,
        attention_size=3,
        bidirectional=bidirectional,
        dtype=dtype,
        rng=seed,
    )


# -- the reference model, written out ----------------------------------


def gru_cell(x, h, Wx, Wh, bx, bh):
    """One GRU step, PyTorch's convention, for one example."""
    size = h.size
    gx, gh = x @ Wx + bx, h @ Wh + bh
    z = scipy.special.expit(gx[:size] + gh[:size])
    r = scipy.special.expit(gx[size : 2 * size] + gh[size : 2 * size])
    n = np.tanh(gx[2 * size :] + r * gh[2 * size :])
    return (1 - z) * n + z * h


def reference(model, src, tgt=None, length=None):
    """Logits, attention weights and tokens, one example at a time.

    Teacher forcing with ``tgt``; greedy decoding of ``length`` tokens
    without it.
    """
    P = {k: v.astype(np.float64) for k, v in model.parameters.items()}
    h = model.encoder_size
    m = tgt.shape[1] if tgt is not None else length
    all_logits, all_weights, all_ids = [], [], []
    for b, row in enumerate(np.asarray(src)):
        tokens = row[row != model.pad_id]
        L = tokens.size
        # Forward GRU over the tokens, backward GRU over them reversed.
        runs = []
        for i, seq in enumerate([tokens, tokens[::-1]][: model.n_directions]):
            state, states = np.zeros(h), []
            for token in seq:
                x = P["src_embed"][token]
                state = gru_cell(
                    x,
                    state,
                    P["enc_Wx"][i],
                    P["enc_Wh"][i],
                    P["enc_bx"][i],
                    P["enc_bh"][i],
                )
                states.append(state)
            runs.append(states)
        if model.n_directions == 2:
            enc = [np.r_[runs[0][j], runs[1][L - 1 - j]] for j in range(L)]
            final = np.r_[runs[0][-1], runs[1][-1]]
        else:
            enc, final = runs[0], runs[0][-1]
        enc = np.array(enc)  # (L, d_enc)

        s = np.tanh(final @ P["init_W"] + P["init_b"])
        prev = model.start_id
        logits, weights, ids = [], [], []
        for t in range(m):
            x = P["tgt_embed"][prev]
            s = gru_cell(
                x, s, P["dec_Wx"], P["dec_Wh"], P["dec_bx"], P["dec_bh"]
            )
            w = np.zeros(row.size)
            if model.attention == "none":
                c = final
            else:
                if model.attention == "dot":
                    scores = enc @ s
                elif model.attention == "bilinear":
                    scores = enc @ (s @ P["att_W"])
                else:
                    hidden = np.tanh(s @ P["att_Wq"] + enc @ P["att_Wk"])
                    scores = hidden @ P["att_v"]
                w[:L] = scipy.special.softmax(scores)
                c = w[:L] @ enc
            st = np.tanh(c @ P["comb_Wc"] + s @ P["comb_Ws"] + P["comb_b"])
            z = st @ P["out_W"] + P["out_b"]
            logits.append(z)
            weights.append(w)
            ids.append(int(np.argmax(z)))
            prev = tgt[b, t] if tgt is not None else ids[-1]
        all_logits.append(logits)
        all_weights.append(weights)
        all_ids.append(ids)
    return np.array(all_logits), np.array(all_weights), np.array(all_ids)


def dates_data(n_train, n_held_out, seed):
    src_tr, src_ho, tgt_tr, tgt_ho = make_date_split(
        n_train, n_held_out, rng=seed
    )
    return (
        SOURCE_VOCAB.encode(src_tr),
        SOURCE_VOCAB.encode(src_ho),
        TARGET_VOCAB.encode(tgt_tr),
        TARGET_VOCAB.encode(tgt_ho),
    )


def date_model(attention="bilinear", dtype=np.float32, seed=0):
    return EncoderDecoder(
        len(SOURCE_VOCAB),
        len(TARGET_VOCAB),
        attention=attention,
        dtype=dtype,
        rng=seed,
    )


# -- forward pass against the reference -----------------------------------


class TestForward:
    @pytest.mark.parametrize("attention, bidirectional", VARIANTS)
    def test_matches_reference(self, attention, bidirectional):
        model = tiny(attention, bidirectional, seed=3)
        logits, weights = model.forward(SRC, TGT)
        ref_logits, ref_weights, _ = reference(model, SRC, TGT)
        np.testing.assert_allclose(logits, ref_logits, rtol=1e-10, atol=0)
        if attention == "none":
            assert weights is None
        else:
            np.testing.assert_allclose(weights, ref_weights, atol=1e-12)

    @pytest.mark.parametrize("attention", ["additive", "dot", "bilinear"])
    def test_weights_sum_to_one_and_skip_padding(self, attention):
        model = date_model(attention)
        texts = ["3 March 2021", "Wednesday, March 3rd 2021", "2021-3-3"]
        src = SOURCE_VOCAB.encode(texts)
        tgt = TARGET_VOCAB.encode(["2021-03-03"] * 3)
        _, weights = model.forward(src, tgt)
        assert weights.shape == (3, 10, src.shape[1])
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)
        pad = np.broadcast_to((src == 0)[:, None, :], weights.shape)
        assert (weights[pad] == 0).all()
        assert (weights[~pad] > 0).all()

    @pytest.mark.parametrize("attention, bidirectional", VARIANTS)
    def test_extra_padding_changes_nothing(self, attention, bidirectional):
        model = tiny(attention, bidirectional)
        wide = np.pad(SRC, ((0, 0), (0, 3)))
        logits, weights = model.forward(SRC, TGT)
        logits_wide, weights_wide = model.forward(wide, TGT)
        np.testing.assert_allclose(logits_wide, logits, rtol=1e-12)
        if weights is not None:
            np.testing.assert_array_equal(weights_wide[..., 5:], 0.0)
            np.testing.assert_allclose(weights_wide[..., :5], weights)

    def test_float32_tracks_float64(self):
        model64 = date_model(dtype=np.float64, seed=1)
        model32 = date_model(dtype=np.float32, seed=1)
        for name, value in model32.parameters.items():
            assert value.dtype == np.float32
            np.testing.assert_array_equal(
                value, model64.parameters[name].astype(np.float32)
            )
            model64.parameters[name][...] = value
        src = SOURCE_VOCAB.encode(["Mar 3, 2021", "03.03.2021"])
        tgt = TARGET_VOCAB.encode(["2021-03-03"] * 2)
        np.testing.assert_allclose(
            model32.forward(src, tgt)[0],
            model64.forward(src, tgt)[0],
            rtol=1e-4,
            atol=1e-5,
        )


# -- gradients -------------------------------------------------------------


class TestGradients:
    @pytest.mark.parametrize("seed", [0, 1])
    @pytest.mark.parametrize("attention, bidirectional", VARIANTS)
    def test_bptt_matches_central_differences(
        self, attention, bidirectional, seed
    ):
        model = tiny(attention, bidirectional, seed=seed)
        if seed:
            # Larger weights than at initialisation: sharper attention
            # and saturating gates exercise every term of the backward.
            gen = np.random.default_rng(seed)
            for value in model.parameters.values():
                value[...] = gen.normal(scale=0.8, size=value.shape)
        loss, grads = model.loss_and_grads(SRC, TGT)
        report = gradcheck(
            lambda: float(model.loss_and_grads(SRC, TGT)[0]),
            model.parameters,
            grads,
            h=1e-5,
            atol=1e-5,
        )
        assert report.passed, str(report)
        assert report.max_rel_error < 1e-5
        assert set(report.per_parameter) == set(model.parameters)

    def test_backward_of_any_upstream_gradient(self):
        model = tiny("additive", seed=2)
        gen = np.random.default_rng(0)
        weight = gen.standard_normal((3, 3, 5))

        def f():
            return float(np.sum(model.forward(SRC, TGT)[0] * weight))

        model.forward(SRC, TGT)
        grads = model.backward(weight)
        report = gradcheck(f, model.parameters, grads, h=1e-5, atol=1e-5)
        assert report.passed, str(report)

    def test_loss_leaves_out_padded_targets(self):
        model = tiny("bilinear")
        logits, _ = model.forward(SRC, TGT)
        log_p = scipy.special.log_softmax(logits, axis=-1)
        keep = TGT != 0
        picked = np.take_along_axis(log_p, TGT[..., None], axis=-1)[..., 0]
        expected = -picked[keep].mean()
        loss, _ = model.loss_and_grads(SRC, TGT)
        assert loss.shape == () and loss.dtype == np.float64
        np.testing.assert_allclose(loss, expected, rtol=1e-12)

    def test_gradients_have_parameter_names_shapes_dtypes(self):
        model = date_model("additive")
        src = SOURCE_VOCAB.encode(["Mar 3, 2021", "03.03.2021"])
        tgt = TARGET_VOCAB.encode(["2021-03-03"] * 2)
        loss, grads = model.loss_and_grads(src, tgt)
        assert loss.dtype == np.float32
        assert list(grads) == list(model.parameters)
        for name, value in model.parameters.items():
            assert grads[name].shape == value.shape, name
            assert grads[name].dtype == np.float32, name


# -- decoding ----------------------------------------------------------------


class TestGreedyDecode:
    @pytest.mark.parametrize("attention, bidirectional", VARIANTS)
    def test_matches_reference(self, attention, bidirectional):
        model = tiny(attention, bidirectional, seed=5)
        ids, weights = model.greedy_decode(SRC, 4)
        _, ref_weights, ref_ids = reference(model, SRC, length=4)
        assert ids.shape == (3, 4) and ids.dtype == np.int64
        np.testing.assert_array_equal(ids, ref_ids)
        if attention == "none":
            assert weights is None
        else:
            assert weights.shape == (3, 4, 5)
            np.testing.assert_allclose(weights, ref_weights, atol=1e-12)

    @pytest.mark.parametrize("attention", ["additive", "dot", "bilinear"])
    def test_weights_are_distributions_over_real_tokens(self, attention):
        model = date_model(attention, dtype=np.float32)
        src = SOURCE_VOCAB.encode(["1 May 1999", "Sunday, May 2nd 1999"])
        ids, weights = model.greedy_decode(src, 10)
        assert ids.shape == (2, 10)
        assert weights.shape == (2, 10, src.shape[1])
        assert weights.dtype == np.float32
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)
        assert (weights[0, :, 10:] == 0).all()

    def test_predict_in_chunks_equals_one_batch(self):
        model = date_model()
        src = SOURCE_VOCAB.encode(["1 May 1999", "2021-3-3", "03/03/21"])
        whole = model.greedy_decode(src, 10)[0]
        np.testing.assert_array_equal(model.predict(src, 10, 2), whole)

    def test_accuracy_counts_whole_sequences(self):
        model = tiny("dot")
        pred = model.predict(SRC, 3)
        tgt = pred.copy()
        assert model.accuracy(SRC, tgt) == 1.0
        tgt[1, 2] = (tgt[1, 2] % 4) + 1  # one wrong token in row 1
        assert model.accuracy(SRC, tgt) == pytest.approx(2 / 3)
        tgt[1, 2] = 0  # padding is not scored
        assert model.accuracy(SRC, tgt) == 1.0


# -- training ------------------------------------------------------------


@pytest.fixture(scope="module")
def dates():
    return dates_data(4000, 300, seed=0)


class TestFit:
    def test_short_run_learns_the_task(self, dates):
        X, Xv, Y, Yv = dates
        model = date_model(seed=0)
        history = model.fit(
            X,
            Y,
            validation_data=(Xv, Yv),
            steps=150,
            eval_every=75,
            rng=0,
            progress=False,
        )
        assert history["step"] == [0, 75, 150]
        acc = history["val_accuracy"]
        assert acc[0] < 0.05, "an untrained model gets almost no date right"
        assert acc[-1] >= 0.5, f"held-out accuracy only {acc}"
        assert history["train_loss"][2] < history["train_loss"][1]
        assert np.isnan(history["train_loss"][0])
        seconds = history["seconds"]
        assert seconds[0] == 0.0 and seconds[1] < seconds[2]
        for value in model.parameters.values():
            assert value.dtype == np.float32

    def test_float32_stays_float32(self, dates):
        X, _, Y, _ = dates
        model = date_model("additive")
        model.fit(X[:256], Y[:256], steps=2, batch_size=64, progress=False)
        model.forward(X[:8], Y[:8])
        floats = []

        def walk(item):
            if isinstance(item, np.ndarray) and item.dtype.kind == "f":
                floats.append(item.dtype)
            elif isinstance(item, tuple | list):
                for part in item:
                    walk(part)

        walk(model._cache)  # every array kept for backward
        assert floats and set(floats) == {np.dtype(np.float32)}
        for value in model.parameters.values():
            assert value.dtype == np.float32

    def test_reproducible(self, dates):
        X, _, Y, _ = dates
        runs = []
        for _ in range(2):
            model = date_model(seed=4)
            model.fit(X, Y, steps=5, batch_size=32, rng=7, progress=False)
            runs.append(model.parameters)
        for name in runs[0]:
            np.testing.assert_array_equal(runs[0][name], runs[1][name])

    def test_budgets_and_callback_stop_training(self, dates):
        X, Xv, Y, Yv = dates
        model = date_model()
        history = model.fit(
            X, Y, steps=50, max_seconds=1e-9, rng=0, progress=False
        )
        assert history["step"] == [0, 1]  # the budget is spent at once
        history = model.fit(
            X, Y, steps=25, eval_every=10, rng=0, progress=False
        )
        assert history["step"] == [0, 10, 20, 25]
        seen = []

        def stop_at_20(record):
            seen.append(record)
            return record["step"] >= 20

        history = model.fit(
            X,
            Y,
            validation_data=(Xv[:20], Yv[:20]),
            steps=100,
            eval_every=10,
            callback=stop_at_20,
            rng=0,
            progress=False,
        )
        assert history["step"] == [0, 10, 20]
        assert sorted(seen[-1]) == sorted(history)
        assert seen[-1]["val_accuracy"] == history["val_accuracy"][-1]

    def test_progress_bar_only_when_asked(self, dates, capsys):
        X, _, Y, _ = dates
        model = date_model()
        model.fit(X, Y, steps=2, progress=False)
        assert capsys.readouterr().err == ""
        model.fit(X, Y, steps=2, progress=True)
        assert "steps" in capsys.readouterr().err

    def test_training_runs_blas_on_one_thread(self, dates):
        threadpoolctl = pytest.importorskip("threadpoolctl")

        def blas_threads():
            info = threadpoolctl.threadpool_info()
            return [i["num_threads"] for i in info if i["user_api"] == "blas"]

        before, inside = blas_threads(), []
        X, _, Y, _ = dates
        model = date_model()
        model.fit(
            X,
            Y,
            steps=2,
            eval_every=1,
            callback=lambda record: inside.append(blas_threads()),
            progress=False,
        )
        assert inside and all(set(n) == {1} for n in inside)
        assert blas_threads() == before  # restored afterwards

    @pytest.mark.parametrize("bucket", [1, 4])
    def test_minibatches_cover_an_epoch(self, bucket):
        lengths = np.random.default_rng(0).integers(5, 30, size=100)
        gen = np.random.default_rng(0)
        batches = _minibatches(lengths, 10, bucket, gen)
        epoch = np.concatenate([next(batches) for _ in range(10)])
        assert sorted(epoch) == list(range(100))
        if bucket > 1:
            # Sorted by length within each pool of 4 batches.
            spread = [np.ptp(lengths[next(batches)]) for _ in range(10)]
            assert np.mean(spread) < 0.5 * np.ptp(lengths)


# -- bad input -----------------------------------------------------------


class TestBadInput:
    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"attention": "luong"}, r"expected attention to be one of"),
            ({"attention": "dot", "decoder_size": 10}, r"decoder_size == "),
            ({"dtype": np.float16}, r"expected dtype float32 or float64"),
            ({"encoder_size": 0}, r"expected encoder_size to be an int"),
            ({"embed_size": 2.0}, r"expected embed_size to be an int"),
            ({"pad_id": 1, "start_id": 1}, r"two different token ids"),
            ({"start_id": 13}, r"start_id in \[0, 13\)"),
            ({"bidirectional": "yes"}, r"bidirectional to be True or F"),
            ({"rng": np.random.RandomState(0)}, r"expected rng"),
        ],
    )
    def test_constructor(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            EncoderDecoder(46, 13, **kwargs)

    def test_none_is_accepted_for_no_attention(self):
        assert EncoderDecoder(46, 13, attention=None).attention == "none"

    @pytest.mark.parametrize(
        "src, match",
        [
            (SRC.astype(float), r"expected src to be integer token ids"),
            (SRC[0], r"expected src of shape \(batch, length\)"),
            (SRC * 3, r"expected src in \[0, 8\).*got 7 ids out of range"),
            (np.zeros((3, 4), int), r"only padding in row 0"),
        ],
    )
    def test_bad_source(self, src, match):
        model = tiny("bilinear")
        with pytest.raises(ValueError, match=match):
            model.forward(src, TGT)

    def test_bad_target(self):
        model = tiny("bilinear")
        with pytest.raises(ValueError, match=r"expected tgt in \[0, 5\)"):
            model.loss_and_grads(SRC, TGT + 5)
        with pytest.raises(ValueError, match=r"3 sources and 2 targets"):
            model.forward(SRC, TGT[:2])

    def test_backward_misuse(self):
        model = tiny("dot")
        with pytest.raises(ValueError, match=r"Call forward\(src, tgt\)"):
            model.backward(np.zeros((3, 3, 5)))
        model.forward(SRC, TGT)
        with pytest.raises(ValueError, match=r"\(3, 3, 5\).*got shape"):
            model.backward(np.zeros((3, 5)))

    def test_bad_decode_length(self):
        model = tiny("dot")
        with pytest.raises(ValueError, match=r"expected length to be an"):
            model.greedy_decode(SRC, 0)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"steps": 0}, r"expected steps to be an int >= 1"),
            ({"lr": -1.0}, r"expected lr to be a finite real number > 0"),
            ({"max_seconds": 0}, r"expected max_seconds to be a finite"),
            ({"clip_norm": float("inf")}, r"expected clip_norm"),
            ({"bucket": 0}, r"expected bucket to be an int >= 1"),
            ({"validation_data": SRC}, r"validation_data to be a pair"),
            ({"callback": 3}, r"expected callback to be callable"),
        ],
    )
    def test_bad_fit_arguments(self, kwargs, match):
        model = tiny("dot")
        with pytest.raises(ValueError, match=match):
            model.fit(SRC, TGT, progress=False, **kwargs)
