"""Unit tests of the checks: cheap values and tiny models, no full-size training."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ds201_lab1 import checks
from ds201_lab1.checks import CheckFailed


def fails(func, *args, match: str | None = None):
    with pytest.raises(CheckFailed, match=match) as info:
        func(*args)
    vi, en = str(info.value).split("\n", 1)
    assert vi and en, "every message has a Vietnamese line, then an English one"
    return str(info.value)


def test_free_text_is_normalised():
    assert checks.normalise_text("  Hidden-Layer  ") == "hidden layer"
    assert checks.normalise_text("Đa lớp") == "da lop"


def test_q0_q1():
    checks.q0_layers(["Input layer", "hidden", "OUTPUT"])
    fails(checks.q0_layers, ["input", "output"], match="layer_kinds")
    fails(checks.q0_layers, "input hidden output", match="list")
    checks.q1_mnist_name("modified national institute of standards and technology")
    msg = fails(checks.q1_mnist_name, "Mixed National Institute")
    assert "Modified" not in msg, "a value check must not hand out the answer"
    fails(checks.q1_mnist_name, 42, match="str")


def test_q2_answers_come_from_the_checks_own_data():
    checks.q2_shapes(60000, 10000, 6.0, (28, 28), 784)
    fails(checks.q2_shapes, 60000, 10000, 6, (28, 28), 28, match="n_pixels")
    fails(checks.q2_shapes, "60000", 10000, 6, (28, 28), 784, match="int")
    checks.q2_labels(10, set(range(10)))
    fails(checks.q2_labels, 10, list(range(10)), match="set")
    (_, y_train), _ = checks.truth_mnist()
    checks.q2_label_counts(np.bincount(y_train))
    checks.q2_label_counts({d: int(c) for d, c in enumerate(np.bincount(y_train))})
    fails(checks.q2_label_counts, np.bincount(y_train)[::-1].copy(), match="label_counts")
    fails(checks.q2_label_counts, np.ones(9, int), match=r"\(10,\)")
    checks.q2_fill_blanks(10, 10, "Multi")
    fails(checks.q2_fill_blanks, 10, 10, "binary", match="blank_3")


def test_q2_one_hot_and_reshape():
    (x_train, y_train), (x_test, _) = checks.truth_mnist()
    one_hot = np.eye(10, dtype="float32")[y_train]
    checks.q2_one_hot(one_hot, one_hot[5])
    fails(checks.q2_one_hot, y_train, one_hot[5], match="shape")
    fails(checks.q2_one_hot, one_hot, one_hot[4], match="y_train_5")
    checks.q2_reshape(x_train.reshape(-1, 784), x_test.reshape(-1, 784), 784, "b")
    fails(checks.q2_reshape, x_train.reshape(-1, 784) / 255, x_test.reshape(-1, 784), 784, "b", match="normalise")
    fails(checks.q2_reshape, x_train, x_test, 784, "b", match="shape")


def test_q3_activations():
    checks.q3_activations(lambda x: 1 / (1 + np.exp(-x)), lambda x: np.tanh(x), lambda x: np.maximum(x, 0))
    # the handout's typo: the minus sign lost in tanh
    fails(
        checks.q3_activations,
        lambda x: 1 / (1 + np.exp(-x)),
        lambda x: (np.exp(x) + np.exp(-x)) / (np.exp(x) + np.exp(-x)),
        lambda x: np.maximum(x, 0),
        match="tanh",
    )
    fails(checks.q3_activations, lambda x: 1 / (1 + np.exp(-x)), np.tanh, lambda x: max(0, x), match="relu")
    fails(checks.q3_activations, None, np.tanh, np.tanh, match="function")


def test_q3_questions():
    checks.q3_output_shape((None, 784))
    fails(checks.q3_output_shape, (60000, 784), match="None")
    checks.q3_units("b")
    fails(checks.q3_units, "d", match="allowed")
    checks.q3_prob_sum(1.0)
    fails(checks.q3_prob_sum, 10)
    checks.q3_layer_roles(["Hidden layer", "output"])
    fails(checks.q3_layer_roles, ["input", "output"])


def test_q3_params_against_a_model():
    import keras

    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(784, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    )
    p1, p2 = checks.dense_params(784, 784), checks.dense_params(784, 10)
    checks.q3_params(p1, p2, p1 + p2, model)
    msg = fails(checks.q3_params, p1, p2, p1 + p2 + 100, model, match="params_total")
    assert str(p1 + p2) not in msg
    fails(checks.q3_params, 784 * 784, p2, p1 + p2, model, match="params_layer_1")


def test_q4_bce():
    def loss(y_hat, y):
        y_hat = np.clip(y_hat, 1e-7, 1 - 1e-7)
        return -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))

    checks.q4_bce(loss, lambda y_hat, y: loss(y_hat, y).mean())

    def unclipped(y_hat, y):
        return -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))

    with np.errstate(divide="ignore", invalid="ignore"):
        fails(checks.q4_bce, unclipped, lambda y_hat, y: unclipped(y_hat, y).mean(), match="clip")
    fails(checks.q4_bce, loss, lambda y_hat, y: loss(y_hat, y).sum(), match="bce_cost")
    fails(checks.q4_bce, lambda y_hat, y: -np.log(np.clip(y_hat, 1e-7, 1)), lambda a, b: 0.0, match="bce_loss")

    def raises(y_hat, y):
        raise ZeroDivisionError("boom")

    fails(checks.q4_bce, raises, raises, match="ZeroDivisionError")


def test_q5_choices():
    checks.q5_argmax("highest")
    fails(checks.q5_argmax, "lowest")
    checks.q5_pred_shape((10000, 10))
    fails(checks.q5_pred_shape, (10, 10000))


@pytest.fixture(scope="module")
def tiny_models():
    """Dense stacks of the exercises' shapes, trained briefly on a slice: enough to beat chance clearly
    (the checks ask for that much evidence of training), far from the accuracy thresholds."""
    import keras

    def make(layers, loss, lr):
        m = keras.Sequential([keras.Input((784,)), *layers])
        m.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
        (x, y), _ = checks.truth_mnist()
        m.fit(x[:2000].reshape(2000, -1) / 255, np.eye(10)[y[:2000]], batch_size=64, epochs=2, verbose=0)
        return m

    d = keras.layers.Dense
    bce = keras.losses.BinaryCrossentropy()
    return {
        "sigmoid": make([d(784, activation="sigmoid"), d(10, activation="sigmoid")], bce, 0.01),
        "relu": make([d(784, activation="relu"), d(10, activation="sigmoid")], bce, 0.01),
        "relu_lr": make([d(784, activation="relu"), d(10, activation="sigmoid")], bce, 0.001),
        "relu_cce": make([d(784, activation="relu"), d(10, activation="sigmoid")], "categorical_crossentropy", 0.01),
        "deep": make(
            [
                d(32, activation="relu"),
                keras.layers.Dropout(0.1),
                d(32, activation="relu"),
                d(10, activation="softmax"),
            ],
            "categorical_crossentropy",
            0.001,
        ),
    }


def test_exercise_specs(tiny_models):
    import keras

    checks.ex1_spec(tiny_models["sigmoid"])
    msg = fails(checks.ex1_spec, tiny_models["relu"])
    assert "Layer 1 of `model_1` has activation relu; the exercise asks for sigmoid" in msg
    checks.ex2_spec(tiny_models["relu"])
    fails(checks.ex2_spec, tiny_models["relu_lr"], match="learning_rate 0.001")
    fails(checks.ex2_spec, tiny_models["relu_cce"], match="loss categorical_crossentropy")
    checks.ex6_spec(tiny_models["deep"])
    fails(checks.ex6_spec, tiny_models["relu"], match="two hidden Dense")
    untrained = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(784, activation="sigmoid"),
            keras.layers.Dense(10, activation="sigmoid"),
        ]
    )
    fails(checks.ex1_spec, untrained, match="not been trained")
    # a step counter set by hand is no evidence of training: the model must also beat chance
    untrained.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy())
    untrained.optimizer.build(untrained.trainable_variables)
    untrained.optimizer.iterations.assign(10 * checks.STEPS_PER_EPOCH_BASE)
    fails(checks.ex1_spec, untrained, match="has learned nothing")
    fails(checks.ex1_spec, None, match="not found")
    fails(checks.ex1_spec, "model", match="Keras model")
    wrong_input = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    fails(checks.ex1_spec, wrong_input, match="784-vectors")


def test_accuracy_is_computed_here_not_read_from_the_notebook(tiny_models):
    x, y = checks.mnist_vectors(True)
    acc = checks.accuracy_of(tiny_models["deep"], x[:500], y[:500])
    assert 0 <= acc <= 1
    pred = checks.predicted_labels(tiny_models["deep"], x[:500])
    assert acc == np.mean(pred == y[:500])
    fails(checks.ex6_accuracy, tiny_models["deep"], match=f"at least {checks.ACCURACY_THRESHOLDS['ex6']} is needed")


def test_ex4_confusion(tiny_models):
    model = tiny_models["relu"]
    cm = checks.confusion(model, *checks.mnist_vectors(True))
    checks.ex4_confusion(cm, model)
    checks.ex4_confusion(checks.confusion(model, *checks.mnist_vectors(False)), model)  # raw-pixel inputs
    fails(checks.ex4_confusion, cm.T.copy() if not np.array_equal(cm, cm.T) else cm + np.eye(10, dtype=int), model)
    fails(checks.ex4_confusion, cm.astype(float), model, match="integers")


# ---- plain values and the forward pass (see "Plain values" in checks.py) -------------------
def test_operator_maths_matches_numpy():
    x = np.concatenate([np.linspace(-40, 40, 4001), [0.0, 1e-12, -1e-12, 700.0, -700.0]])
    assert np.allclose(checks._exp(x), np.exp(x), rtol=1e-13, atol=0)
    p = np.concatenate([np.logspace(-300, 300, 4001), [1.0, 1e-7, 1 - 1e-7]])
    assert np.allclose(checks._log(p), np.log(p), rtol=1e-13, atol=1e-15)
    assert np.allclose(checks._sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-14, atol=1e-300)
    assert np.allclose(checks._tanh(x), np.tanh(x), rtol=1e-12, atol=1e-15)
    assert np.allclose(checks._softplus(x), np.logaddexp(0, x), rtol=1e-11, atol=1e-300)
    erf = np.vectorize(math.erf)
    assert np.allclose(checks._erf(x), erf(x), rtol=0, atol=2e-8)
    z = np.random.default_rng(0).normal(size=(50, 10)) * 20
    softmax = np.exp(z - z.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    assert np.allclose(checks.ACTIVATIONS["softmax"](z), softmax, rtol=1e-12, atol=1e-300)
    assert np.allclose(checks.ACTIVATIONS["log_softmax"](z), np.log(softmax), rtol=1e-12, atol=1e-12)
    assert checks.PROBES.dtype == np.float64  # the project's grader records the probes by value and dtype


def test_text_folding_matches_unicodedata():
    import re
    import unicodedata

    def reference(s):  # the former implementation
        s = unicodedata.normalize("NFKD", s)
        s = "".join(c for c in s if not unicodedata.combining(c)).replace("đ", "d").replace("Đ", "d")
        return " ".join(re.sub(r"[^a-z0-9]+", " ", s.lower()).split())

    vietnamese = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
    samples = [vietnamese, vietnamese.upper(), "Đa lớp", "  Hidden-Layer  ", "Lớp ẩn!", "Naïve café", "MULTI-class"]
    samples += [unicodedata.normalize("NFD", s) for s in samples]  # decomposed input (macOS keyboards)
    for s in samples:
        assert checks.normalise_text(s) == reference(s), s


def test_plain_values_accept_exact_types_only():
    assert checks.plain_scalar(np.int64(3)) == 3 and type(checks.plain_scalar(np.int64(3))) is int
    assert type(checks.plain_scalar(np.float32(0.5))) is float
    assert type(checks.plain_scalar(np.longdouble(0.5))) is float
    assert checks.plain_scalar(np.str_("b")) == "b"
    assert checks.plain_scalar(np.array(3)) is checks._NOT_PLAIN  # a 0-d array is not a number here

    class MyFloat(float):
        pass

    assert checks.plain_scalar(MyFloat(1.0)) is checks._NOT_PLAIN
    arr, _ = checks._as_array([[1, 2], [3, 4]])
    assert type(arr) is np.ndarray and arr.dtype == np.int64 and arr.shape == (2, 2)
    assert checks._as_array([[1, 2], [3]]) == (None, "object")  # ragged
    assert checks._as_array(["a", "b"]) == (None, "str")
    assert checks._as_array(np.array(["a"])) == (None, "<U1")
    assert checks._as_array(np.ma.masked_array([1, 2])) == (None, None)  # a subclass
    assert checks.ARRAY is np.ndarray


def _random_weights(model, seed=0, scale=0.6):
    """Random weights, no training: positive where Keras needs them (γ, moving variance)."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        positive = v.name in ("gamma", "moving_variance")
        value = rng.uniform(0.5, 2, v.shape) if positive else rng.normal(0, scale, v.shape)
        v.assign(value.astype("float32"))
    return model


@pytest.mark.parametrize("activation", sorted(checks.ACTIVATIONS))
def test_forward_matches_keras_for_every_activation(activation):
    import keras

    model = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(9, activation=activation),
            keras.layers.Dense(10, activation=activation),
        ]
    )
    _random_weights(model, scale=0.1 if activation == "exponential" else 0.6)  # exp(exp(…)) overflows
    assert checks._numpy_steps(model) is not None, "evaluated in NumPy, not by calling the model"
    x = np.random.default_rng(1).normal(0, 2, (256, 12)).astype("float32")
    ours, theirs = checks.forward(model, x, batch=100), model.predict(x, verbose=0)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1))


def test_forward_matches_keras_for_every_layer():
    import keras

    L = keras.layers
    inputs = keras.Input((12,))
    h = L.Dense(8, activation="relu")(inputs)
    h = L.Dropout(0.5)(h)
    h = L.BatchNormalization()(h)
    h = L.Reshape((2, 4))(h)
    h = L.Dense(3)(h)  # on the last axis
    h = L.Flatten()(h)
    h = L.Activation("tanh")(h)
    h = L.Reshape((2, 3))(h)
    h = L.BatchNormalization(axis=1, center=False)(h)
    h = L.Flatten(data_format="channels_first")(h)
    outputs = L.Dense(10, activation="softmax", use_bias=False)(h)
    functional = _random_weights(keras.Model(inputs, outputs))
    sequential = _random_weights(
        keras.Sequential(
            [keras.Input((12,)), L.Dense(16, activation="selu"), L.BatchNormalization(scale=False), L.Dense(10)]
        )
    )
    x = np.random.default_rng(2).normal(0, 2, (300, 12)).astype("float32")
    for model in (functional, sequential):
        assert checks._numpy_steps(model) is not None
        ours, theirs = checks.forward(model, x, batch=128), model.predict(x, verbose=0)
        assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_forward_calls_the_model_only_for_what_it_does_not_know():
    import keras

    L = keras.layers
    unknown_layer = _random_weights(keras.Sequential([keras.Input((12,)), L.Dense(8), L.LeakyReLU(0.3), L.Dense(10)]))
    custom_activation = _random_weights(keras.Sequential([keras.Input((12,)), L.Dense(10, activation=lambda z: z * 2)]))
    inputs = keras.Input((12,))
    branches = L.Add()([L.Dense(10)(inputs), L.Dense(10)(inputs)])
    not_a_chain = _random_weights(keras.Model(inputs, branches))
    x = np.random.default_rng(3).normal(size=(50, 12)).astype("float32")
    for model in (unknown_layer, custom_activation, not_a_chain):
        assert checks._numpy_steps(model) is None
        assert np.allclose(checks.forward(model, x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_forward_flushes_float32_subnormals_like_tensorflow():
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, activation="sigmoid")])
    model.set_weights([np.array([[1.0, 1.0]], "float32"), np.array([-89.0, -120.0], "float32")])
    x = np.zeros((1, 1), "float32")  # sigmoid(-89) is a float32 subnormal, sigmoid(-120) underflows to 0
    theirs = model.predict(x, verbose=0)
    assert np.array_equal(checks.forward(model, x), theirs) and theirs.argmax() == 0
