"""The fairness corpus: alternative correct answers, each worth full points for its question.

A case is data: the question, what is different, and the code of one notebook cell that sets the
question's variables in that other form. The cell runs after the question's own answer cell (the
notebook's ``load_mnist``/``load_cifar10`` and the trained models ``model``, ``model_1`` … exist
by then) and before its ``grader.check``; it starts with :data:`PRELUDE`.

- ``tests/test_fairness.py`` runs every case cheaply: the models of the session's one full
  solution run, each case's cell, then the built test file of its question (public and hidden test
  cases, as ``otter run`` runs them); every case must pass every test case of its question.
- The project's grader can run the same cases: :func:`notebook_with` puts a case's cell into a
  notebook before its question's ``grader.check``, to grade with ``make grade`` (or ``otter run``)
  and compare with :data:`Case.points` = the question's full points.

Cases that need a trained model reuse the trained layers or weights of the solution's model in the
other form (functional, ``model.add``, ``Activation`` layers, ``Dropout``): the same trained
network, written differently, with the same optimizer (so the same training steps and settings).
Nothing is trained here.
"""

from __future__ import annotations

from dataclasses import dataclass

PRELUDE = '''\
import collections
import numpy as np
import pandas as pd
import keras


def _same_training(new, old):
    """new is old's trained network in another form: compiled with old's optimizer and loss."""
    new.compile(optimizer=old.optimizer, loss=old.loss)
    return new


def _functional(old):
    """keras.Model(inputs, outputs) over old's own trained layers."""
    inputs = keras.Input(shape=old.inputs[0].shape[1:])
    h = inputs
    for layer in old.layers:
        h = layer(h)
    return _same_training(keras.Model(inputs, h), old)


def _rebuilt(old, activation_layers=False, add=False, dropout=0.0):
    """A new Sequential with old's Dense layers, weights copied: Activation layers instead of
    activation=, model.add instead of a list, or Dropout between the layers."""
    layers = [keras.Input(shape=old.inputs[0].shape[1:])]
    for i, layer in enumerate(old.layers):
        act = layer.activation.__name__
        if activation_layers:
            layers += [keras.layers.Dense(layer.units), keras.layers.Activation(act)]
        else:
            layers.append(keras.layers.Dense(layer.units, activation=act))
        if dropout and i < len(old.layers) - 1:
            layers.append(keras.layers.Dropout(dropout))
    if add:
        new = keras.Sequential()
        for layer in layers:
            new.add(layer)
    else:
        new = keras.Sequential(layers)
    new.set_weights(old.get_weights())
    return _same_training(new, old)


(_x, _y), (_xt, _yt) = load_mnist()
'''


@dataclass(frozen=True)
class Case:
    question: str
    what: str
    code: str

    def cell(self) -> str:
        return PRELUDE + "\n" + self.code.strip() + "\n"


C = Case
CASES: list[Case] = [
    # ---- issue 13's list
    C("q0_layers", "plural, capitalised", 'layer_kinds = ["Input layer", "Hidden layers", "Output layer"]'),
    C("q0_layers", "upper case, a tuple", 'layer_kinds = ("INPUT", "HIDDEN", "OUTPUT")'),
    C("q0_layers", "a set (order does not matter)", 'layer_kinds = {"output", "input", "hidden"}'),
    C("q0_layers", "hyphenated, plural 'outputs'", 'layer_kinds = ["input-layer", "hidden-layer", "outputs"]'),
    C("q1_mnist_name", "with 'database'", 'mnist_stands_for = "Modified National Institute of Standards and Technology database"'),
    C("q1_mnist_name", "lower case", 'mnist_stands_for = "modified national institute of standards and technology"'),
    C("q1_mnist_name", "with '(MNIST)'", 'mnist_stands_for = "Modified National Institute of Standards and Technology (MNIST)"'),
    C("q2_label_counts", "pandas value_counts().sort_index()", "label_counts = pd.Series(_y).value_counts().sort_index()"),
    C("q2_label_counts", "pandas value_counts() (ordered by count)", "label_counts = pd.Series(_y).value_counts()"),
    C("q2_label_counts", "a Counter", "label_counts = collections.Counter(_y.tolist())"),
    C("q2_label_counts", "a list of numpy ints", "label_counts = [np.sum(_y == d) for d in range(10)]"),
    C("q2_label_counts", "np.unique counts", "label_counts = np.unique(_y, return_counts=True)[1]"),
    C("q3_prob_sum", "a float32 just below 1", "prob_sum = np.float32(0.99999994)"),
    C("q3_prob_sum", "a float32 just above 1", "prob_sum = np.float32(1.0000001)"),
    C("q3_prob_sum", "the model's own float32 sum", "prob_sum = model.predict(_xt[:1].reshape(1, -1), verbose=0)[0].sum()"),
    C("q3_layer_roles", "plural, capitalised, a tuple", 'layer_roles = ("Hidden layers", "Output layer")'),
    C("q3_layer_roles", "upper case", 'layer_roles = ["HIDDEN", "OUTPUT"]'),
    C("ex1", "a functional model", "model_1 = _functional(model_1)"),
    C("ex1", "Activation layers instead of activation=", "model_1 = _rebuilt(model_1, activation_layers=True)"),
    C("ex1", "model.add instead of a list", "model_1 = _rebuilt(model_1, add=True)"),
    C("ex2", "a functional model", "model_2 = _functional(model_2)"),
    C("ex2", "Activation layers, model.add", "model_2 = _rebuilt(model_2, activation_layers=True, add=True)"),
    C("ex3", "a functional model", "model_2_new = _functional(model_2_new)"),
    C("ex3", "float64 data (no astype)", "X_train_new = _x.reshape(len(_x), -1) / 255.0\nX_test_new = _xt.reshape(len(_xt), -1) / 255.0"),
    C("ex3", "np.divide into float32", 'X_train_new = np.divide(_x.reshape(-1, 784), 255, dtype="float32")\nX_test_new = np.divide(_xt.reshape(-1, 784), 255, dtype="float32")'),
    C("ex6", "model.add with Dropout layers", "model_3 = _rebuilt(model_3, add=True, dropout=0.2)"),
    C("ex6", "Activation layers", "model_3 = _rebuilt(model_3, activation_layers=True)"),
    # ---- numpy scalars, tuple or list where order matters, set or sorted list where it does not
    C(
        "q2_shapes",
        "numpy scalars, image_size a list",
        "n_train, n_test = np.int64(len(_x)), np.int32(len(_xt))\ntrain_test_ratio = np.float32(n_train / n_test)\n"
        "image_size = list(_x.shape[1:])\nn_pixels = np.prod(_x.shape[1:])",
    ),
    C(
        "q2_shapes",
        "integer ratio as a numpy float64, image_size of numpy ints",
        "n_train, n_test = len(_x), len(_xt)\ntrain_test_ratio = np.float64(n_train) / n_test\n"
        "image_size = tuple(np.array(_x.shape[1:]))\nn_pixels = int(image_size[0] * image_size[1])",
    ),
    C("q2_labels", "a set of numpy uint8", "label_set = set(_y)\nn_labels = len(label_set)"),
    C("q2_labels", "a sorted list, numpy int count", "label_set = sorted(set(_y.tolist()))\nn_labels = np.int64(len(label_set))"),
    C("q2_labels", "np.unique (a sorted array)", "label_set = np.unique(_y)\nn_labels = label_set.size"),
    C("q2_labels", "a frozenset", "label_set = frozenset(_y.tolist())\nn_labels = len(label_set)"),
    C(
        "q2_reshape",
        "reshape(len, 28 * 28), numpy int, upper-case choice",
        'X_train = _x.reshape(len(_x), 28 * 28)\nX_test = _xt.reshape(len(_xt), 28 * 28)\n'
        'vector_dim = np.int64(X_train.shape[1])\nminus_one_means = "B"',
    ),
    C("q2_fill_blanks", "numpy ints, 'Multi-class'", 'blank_1, blank_2 = np.int64(10), np.int32(10)\nblank_3 = "Multi-class"'),
    C("q2_fill_blanks", "'multiclass'", 'blank_1 = blank_2 = 10\nblank_3 = "multiclass"'),
    C("q3_output_shape", "a list", "dense_output_shape = [None, 784]"),
    C("q3_output_shape", "the layer's shape itself", "dense_output_shape = model.layers[0].output.shape"),
    C("q3_units", "upper case", 'output_units_reason = "B"'),
    C(
        "q3_params",
        "Keras' own counts (numpy ints)",
        "params_layer_1 = np.int64(model.layers[0].count_params())\n"
        "params_layer_2 = model.layers[1].count_params()\nparams_total = model.count_params()",
    ),
    C("q5_pred_shape", "a list", "pred_shape = [len(_xt), 10]"),
    C("q5_pred_shape", "numpy ints", "pred_shape = (np.int64(len(_xt)), np.int64(10))"),
    C("q5_argmax", "capitalised", 'chosen_class_prob = "Highest"'),
    C(
        "q5_image_50",
        "a list, numpy ints",
        "_p = model.predict(_xt.reshape(-1, 784), verbose=0)\nprobs_50 = list(_p[50])\n"
        "pred_label_50 = np.argmax(_p[50])\ntrue_label_50 = _yt[50]",
    ),
    C(
        "q5_selected",
        "a list of ints",
        "_p = model.predict(_xt.reshape(-1, 784), verbose=0)\nselected_labels = [int(np.argmax(_p[i])) for i in (100, 1001, 4123)]",
    ),
    C(
        "q5_accuracy",
        "np.mean of a float32 predict, a numpy float",
        "accuracy = np.mean(np.argmax(model.predict(_xt.reshape(-1, 784), verbose=0), axis=1) == _yt)",
    ),
    C(
        "q4_bce",
        "np.where and another eps; the cost a numpy float",
        "def bce_loss(y_hat, y):\n    p = np.clip(y_hat, 1e-12, 1 - 1e-12)\n    return np.where(y == 1, -np.log(p), -np.log(1 - p))\n\n\n"
        "def bce_cost(y_hat, y):\n    return np.sum(bce_loss(y_hat, y)) / len(y)",
    ),
    C(
        "q4_bce",
        "the cost a 0-d array",
        "def bce_loss(y_hat, y):\n    y_hat = np.clip(y_hat, 1e-7, 1 - 1e-7)\n    return -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))\n\n\n"
        "def bce_cost(y_hat, y):\n    return np.array(bce_loss(y_hat, y).mean())",
    ),
    C(
        "q3_activations",
        "other formulas: exp(x)/(1+exp(x)), 2σ(2x)−1, x·(x>0)",
        "def sigmoid(x):\n    return np.exp(x) / (1 + np.exp(x))\n\n\ndef tanh(x):\n    return 2 / (1 + np.exp(-2 * x)) - 1\n\n\n"
        "def relu(x):\n    return x * (x > 0)",
    ),
    # ---- to_categorical or np.eye
    C("q2_one_hot", "np.eye (float64)", "y_train = np.eye(10)[_y]\ny_train_5 = y_train[5]"),
    C("q2_one_hot", "to_categorical as int, y_train_5 a list", "y_train = keras.utils.to_categorical(_y, 10).astype(int)\ny_train_5 = list(y_train[5])"),
    C(
        "ex5",
        "np.eye, float64 pixels, list shapes, ravel",
        "(_cx, _cy), (_cxt, _cyt) = load_cifar10()\ncifar_train_shape, cifar_test_shape = list(_cx.shape), list(_cxt.shape)\n"
        "X_train_CIFAR10 = _cx.reshape(-1, 3072) / 255.0\nX_test_CIFAR10 = _cxt.reshape(-1, 3072) / 255.0\n"
        "y_train_CIFAR10 = np.eye(10)[_cy.ravel()]\ny_test_CIFAR10 = _cyt.ravel()",
    ),
    C("ex5", "Activation layers", "model_cifar = _rebuilt(model_cifar, activation_layers=True)"),
    C("ex5", "a functional model", "model_cifar = _functional(model_cifar)"),
    # ---- other forms of the same answer
    C("ex4", "a pandas crosstab", "cm_ex4 = pd.crosstab(_yt, np.argmax(model_2_new.predict(_xt.reshape(-1, 784) / 255, verbose=0), axis=1)).to_numpy()"),
    C("ex4", "a list of lists", "_pred = np.argmax(model_2_new.predict(_xt.reshape(-1, 784) / 255, verbose=0), axis=1)\ncm_ex4 = [[int(np.sum((_yt == i) & (_pred == j))) for j in range(10)] for i in range(10)]"),
    C("q6_save", "keras.saving.save_model", 'keras.saving.save_model(model, "lab1_model.keras")\nloaded_model = keras.models.load_model("lab1_model.keras")'),
    C("q4_train_time", "a numpy float", "train_time = np.float32(42.5)"),
]


def notebook_with(nb, case: Case):
    """A copy of notebook ``nb`` (nbformat) with ``case``'s cell right before its question's first
    ``grader.check``: to grade the case with ``make grade`` or ``otter run``."""
    import copy

    import nbformat

    out = copy.deepcopy(nb)
    check = f'grader.check("{case.question}")'
    index = next(i for i, c in enumerate(out.cells) if c.cell_type == "code" and check in c.source)
    out.cells.insert(index, nbformat.v4.new_code_cell(case.cell()))
    return out
