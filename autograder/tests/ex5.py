from otter.test_files import test_case

OK_FORMAT = False

name = "ex5"
points = None

@test_case(points=0, hidden=False)
def test_ex5_format(cifar_train_shape, cifar_test_shape, X_train_CIFAR10, y_train_CIFAR10, X_test_CIFAR10, y_test_CIFAR10, model_cifar):
    import keras
    import numpy as np
    for _name, _value in (('cifar_train_shape', cifar_train_shape), ('cifar_test_shape', cifar_test_shape), ('X_train_CIFAR10', X_train_CIFAR10), ('y_train_CIFAR10', y_train_CIFAR10), ('X_test_CIFAR10', X_test_CIFAR10), ('y_test_CIFAR10', y_test_CIFAR10), ('model_cifar', model_cifar)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    for name, s in (('cifar_train_shape', cifar_train_shape), ('cifar_test_shape', cifar_test_shape)):
        assert isinstance(s, (tuple, list)) and len(s) == 4, f"{name} là kích thước ảnh gốc, một tuple 4 phần tử / {name} is the raw images' shape, a tuple of 4"
    for name, x, n in (('X_train_CIFAR10', X_train_CIFAR10, 50000), ('X_test_CIFAR10', X_test_CIFAR10, 10000)):
        assert np.shape(x) == (n, 3072), f'{name} phải có kích thước ({n}, 3072), hiện là {np.shape(x)} / {name} must have shape ({n}, 3072), got {np.shape(x)}'
        assert float(np.max(x)) <= 1.0, f'Sau khi chuẩn hóa, giá trị lớn nhất của {name} là 1 / After normalising, the largest value of {name} is 1'
    assert np.shape(y_train_CIFAR10) == (50000, 10), f'y_train_CIFAR10 phải là one-hot (50000, 10), hiện là {np.shape(y_train_CIFAR10)} / y_train_CIFAR10 must be one-hot (50000, 10), got {np.shape(y_train_CIFAR10)}'
    assert np.shape(y_test_CIFAR10) == (10000,), f'y_test_CIFAR10 là nhãn số nguyên dạng (10000,), hiện là {np.shape(y_test_CIFAR10)} / y_test_CIFAR10 holds integer labels shaped (10000,), got {np.shape(y_test_CIFAR10)}'
    assert isinstance(model_cifar, keras.Model), f'model_cifar phải là một mô hình Keras, hiện là {type(model_cifar).__name__} / model_cifar must be a Keras model, got {type(model_cifar).__name__}'
    assert tuple(model_cifar.inputs[0].shape) == (None, 3072), 'model_cifar nhận vector 3072 chiều / model_cifar takes 3072-vectors'
    assert tuple(model_cifar.outputs[0].shape) == (None, 10), 'model_cifar có 10 đầu ra / model_cifar has 10 outputs'
    THRESHOLD = 0.35
    try:
        acc = float(np.mean(np.argmax(model_cifar(np.asarray(X_test_CIFAR10, dtype='float32'), training=False), axis=-1) == np.asarray(y_test_CIFAR10).reshape(-1)))
    except Exception as e:
        raise AssertionError(f"Không tính được độ chính xác của model_cifar trên X_test_CIFAR10: {type(e).__name__}: {e} / Could not compute model_cifar's accuracy on X_test_CIFAR10: {type(e).__name__}: {e}") from None
    print(f'model_cifar: độ chính xác trên tập test / test accuracy {acc:.4f}, ngưỡng / threshold {THRESHOLD}')
    assert acc >= THRESHOLD, f'model_cifar đạt {acc:.4f} trên tập test, cần ít nhất {THRESHOLD} / model_cifar scores {acc:.4f} on the test set; it needs at least {THRESHOLD}'

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

