from otter.test_files import test_case

OK_FORMAT = False

name = "ex5"
points = None

@test_case(points=0, hidden=False)
def test_ex5_format(X_train_CIFAR10, y_train_CIFAR10, model_cifar):
    import keras
    import numpy as np
    assert np.ndim(X_train_CIFAR10) == 2, 'X_train_CIFAR10 phải là mảng 2 chiều sau reshape / X_train_CIFAR10 must be 2-D after the reshape'
    assert np.ndim(y_train_CIFAR10) == 2, 'y_train_CIFAR10 phải là one-hot (2 chiều) / y_train_CIFAR10 must be one-hot (2-D)'
    assert isinstance(model_cifar, keras.Model), 'model_cifar phải là một mô hình Keras / model_cifar must be a Keras model'

@test_case(points=1, hidden=True)
def test_ex5_data(X_train_CIFAR10, y_train_CIFAR10, X_test_CIFAR10, y_test_CIFAR10, cifar_train_shape, cifar_test_shape):
    from ds201_lab1 import checks
    checks.ex5_data(X_train_CIFAR10, y_train_CIFAR10, X_test_CIFAR10, y_test_CIFAR10, cifar_train_shape, cifar_test_shape)

@test_case(points=1, hidden=True)
def test_ex5_spec(model_cifar):
    from ds201_lab1 import checks
    checks.ex5_spec(model_cifar)

@test_case(points=2, hidden=True)
def test_ex5_accuracy(model_cifar):
    from ds201_lab1 import checks
    checks.ex5_accuracy(model_cifar)

