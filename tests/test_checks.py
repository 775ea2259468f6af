"""Unit tests of the checks: cheap values and tiny models, no full-size training."""

from __future__ import annotations

import numpy as np
import pytest

from ds201_lab1 import checks, spec
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
    assert checks.normalise_text("Naïve CAFÉ") == "naive cafe"
    for text in ("hidden", "Hidden layers", "HIDDEN-LAYER", "lớp ẩn"):
        assert checks.layer_kind(text) == "hidden", text
    assert checks.layer_kind("Outputs") == "output"


def test_q0_q1():
    checks.q0_layers(["Input layer", "hidden", "OUTPUT"])
    fails(checks.q0_layers, ["input", "output"], match="layer_kinds")
    fails(checks.q0_layers, "input hidden output", match="list")
    checks.q1_mnist_name("modified national institute of standards and technology")
    checks.q1_mnist_name("Modified National Institute of Standards and Technology database")
    msg = fails(checks.q1_mnist_name, "Mixed National Institute")
    assert "Modified" not in msg, "a value check must not hand out the answer"
    fails(checks.q1_mnist_name, 42, match="str")


def test_q2_answers_come_from_the_checks_own_data():
    checks.q2_shapes(60000, 10000, 6.0, (28, 28), 784)
    fails(checks.q2_shapes, 60000, 10000, 6, (28, 28), 28, match="n_pixels")
    fails(checks.q2_shapes, "60000", 10000, 6, (28, 28), 784, match="int")
    checks.q2_labels(10, set(range(10)))
    checks.q2_labels(10, list(range(10)))  # a sorted list without repeats is a set of labels too
    fails(checks.q2_labels, 10, [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], match="repeats")
    fails(checks.q2_labels, 10, "0123456789", match="set")
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
    checks.q3_prob_sum(np.float32(0.99999994))  # float32 sums from the model itself
    checks.q3_prob_sum(np.float32(1.0000001))
    fails(checks.q3_prob_sum, 10)
    fails(checks.q3_prob_sum, 0.99)
    checks.q3_layer_roles(["Hidden layer", "output"])
    checks.q3_layer_roles(("hidden layers", "OUTPUT LAYER"))
    msg = fails(checks.q3_layer_roles, ["input", "output"])
    assert "order" not in msg, "a wrong kind is not an ordering problem"
    fails(checks.q3_layer_roles, ["output", "hidden"], match="order")


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


def test_functions_are_called_on_the_spec_probes_only():
    """The project's grader replays recorded outputs: a check may call a student's function on
    exactly spec.PROBES[name], converted by spec.probe_arrays, in that order."""
    from ds201_lab1 import spec

    calls = {}

    def recorder(name, f):
        def wrapped(*args):
            calls.setdefault(name, []).append(tuple(a.tolist() for a in args))
            return f(*args)

        return wrapped

    def loss(y_hat, y):
        y_hat = np.clip(y_hat, 1e-7, 1 - 1e-7)
        return -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))

    checks.q3_activations(
        recorder("sigmoid", lambda x: 1 / (1 + np.exp(-x))), recorder("tanh", np.tanh), recorder("relu", lambda x: np.maximum(x, 0))
    )
    checks.q4_bce(recorder("bce_loss", loss), recorder("bce_cost", lambda a, b: loss(a, b).mean()))
    assert calls == {name: [tuple(list(a) for a in args) for args in probes] for name, probes in spec.PROBES.items()}


def test_type_messages_name_the_type_the_grader_could_not_rebuild():
    class NotRebuilt:  # what the project's grader hands in for a value it could not rebuild
        def __repr__(self):
            return "<not rebuilt: layer 'Conv2D' is not allowed>"

    fails(checks.q2_shapes, NotRebuilt(), 10000, 6.0, (28, 28), 784, match="NotRebuilt")
    fails(checks.ex1_spec, NotRebuilt(), match="must be a Keras model, got NotRebuilt")
    fails(checks.q2_one_hot, NotRebuilt(), np.zeros(10), match="NotRebuilt")


def test_read_only_memory_mapped_arrays_are_honest_answers(tmp_path):
    (x_train, y_train), (x_test, _) = checks.truth_mnist()
    np.save(tmp_path / "y.npy", np.eye(10, dtype="float32")[y_train])
    y = np.load(tmp_path / "y.npy", mmap_mode="r")
    checks.q2_one_hot(y, y[5])
    np.save(tmp_path / "x.npy", x_train.reshape(-1, 784))
    checks.q2_reshape(np.load(tmp_path / "x.npy", mmap_mode="c").view(np.ndarray), x_test.reshape(-1, 784), 784, "b")


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
    # a functional model with an Activation layer is the same network as Sequential + activation=
    inputs = keras.Input((784,))
    hidden = tiny_models["sigmoid"].layers[0](inputs)
    linear = keras.layers.Dense(10)
    outputs = keras.layers.Activation("sigmoid")(linear(hidden))
    functional = keras.Model(inputs, outputs)
    linear.set_weights(tiny_models["sigmoid"].layers[1].get_weights())
    functional.compile(optimizer=tiny_models["sigmoid"].optimizer, loss="binary_crossentropy")
    checks.ex1_spec(functional)
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
    fails(checks.ex6_accuracy, tiny_models["deep"], match=f"at least {spec.ACCURACY_THRESHOLDS['ex6']} is needed")


def test_ex4_confusion(tiny_models):
    model = tiny_models["relu"]
    cm = checks.confusion(model, *checks.mnist_vectors(True))
    checks.ex4_confusion(cm, model)
    checks.ex4_confusion(checks.confusion(model, *checks.mnist_vectors(False)), model)  # raw-pixel inputs
    fails(checks.ex4_confusion, cm.T.copy() if not np.array_equal(cm, cm.T) else cm + np.eye(10, dtype=int), model)
    checks.ex4_confusion(cm.astype(float), model)  # whole numbers held as floats are counts too
    fails(checks.ex4_confusion, cm + 0.5, model, match="integers")


def test_a_regrade_reads_each_models_test_outputs_from_the_graders_store(tiny_models, tmp_path, monkeypatch):
    """The project's grader keeps each model's test-set outputs (verify.OutputsStore, OUT/.cache/outputs):
    the next run's checks read them instead of running the model, for the same model and data only."""
    from ds201_lab1.grade.verify import OutputsStore

    model, variant = tiny_models["deep"], spec.MNIST_NORMALISED
    monkeypatch.setattr(checks, "outputs_store", OutputsStore(tmp_path))
    checks.forget_outputs()
    first = checks.test_outputs(model, variant)
    [kept] = list(tmp_path.rglob("*.npy"))
    checks.forget_outputs()
    run_model = checks.outputs

    def ran_again(*args):
        raise AssertionError("the model ran again")

    monkeypatch.setattr(checks, "outputs", ran_again)
    assert np.array_equal(checks.test_outputs(model, variant), first)
    with pytest.raises(AssertionError, match="ran again"):  # other data: not answered by that file
        checks.test_outputs(model, spec.MNIST_RAW)
    other = type(model).from_config(model.get_config())
    other.set_weights([w + 0.01 for w in model.get_weights()])
    with pytest.raises(AssertionError, match="ran again"):  # other weights: not answered either
        checks.test_outputs(other, variant)
    monkeypatch.setattr(checks, "outputs", run_model)
    np.save(kept, np.zeros((3, 10), "float32"))  # a damaged file is computed again and replaced
    checks.forget_outputs()
    assert np.array_equal(checks.test_outputs(model, variant), first)
    assert np.load(kept).shape == first.shape
    blocked = tmp_path / "a-file"  # a store that cannot be written (disk full …) never costs a grade
    blocked.write_text("")
    monkeypatch.setattr(checks, "outputs_store", OutputsStore(blocked))
    checks.forget_outputs()
    assert np.array_equal(checks.test_outputs(model, variant), first)
    checks.forget_outputs()
