from otter.test_files import test_case

OK_FORMAT = False

name = "ex3"
points = None

@test_case(points=0, hidden=False)
def test_ex3_format(X_train_new, X_test_new, model_2_new, y_test):
    import keras
    import numpy as np
    for _name, _value in (('X_train_new', X_train_new), ('X_test_new', X_test_new), ('model_2_new', model_2_new), ('y_test', y_test)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    for name, x, n in (('X_train_new', X_train_new, 60000), ('X_test_new', X_test_new, 10000)):
        assert np.shape(x) == (n, 784), f'{name} phải có kích thước ({n}, 784), hiện là {np.shape(x)} / {name} must have shape ({n}, 784), got {np.shape(x)}'
        assert np.asarray(x).dtype.kind == 'f', f'{name} phải là số thực (float) / {name} must hold floats'
        assert float(np.max(x)) <= 1.0, f'Sau khi chuẩn hóa, giá trị lớn nhất của {name} là 1 / After normalising, the largest value of {name} is 1'
    assert isinstance(model_2_new, keras.Model), f'model_2_new phải là một mô hình Keras, hiện là {type(model_2_new).__name__} / model_2_new must be a Keras model, got {type(model_2_new).__name__}'
    assert tuple(model_2_new.inputs[0].shape) == (None, 784), 'model_2_new nhận vector 784 chiều / model_2_new takes 784-vectors'
    assert tuple(model_2_new.outputs[0].shape) == (None, 10), 'model_2_new có 10 đầu ra / model_2_new has 10 outputs'
    THRESHOLD = 0.96
    try:
        acc = float(np.mean(np.argmax(model_2_new(np.asarray(X_test_new, dtype='float32'), training=False), axis=-1) == np.asarray(y_test).reshape(-1)))
    except Exception as e:
        raise AssertionError(f"Không tính được độ chính xác của model_2_new trên X_test_new: {type(e).__name__}: {e} / Could not compute model_2_new's accuracy on X_test_new: {type(e).__name__}: {e}") from None
    print(f'model_2_new: độ chính xác trên tập test / test accuracy {acc:.4f}, ngưỡng / threshold {THRESHOLD}')
    assert acc >= THRESHOLD, f'model_2_new đạt {acc:.4f} trên tập test, cần ít nhất {THRESHOLD} / model_2_new scores {acc:.4f} on the test set; it needs at least {THRESHOLD}'

