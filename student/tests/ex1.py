from otter.test_files import test_case

OK_FORMAT = False

name = "ex1"
points = None

@test_case(points=0, hidden=False)
def test_ex1_format(model_1, X_test, y_test):
    import keras
    import numpy as np
    for _name, _value in (('model_1', model_1), ('X_test', X_test), ('y_test', y_test)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(model_1, keras.Model), f'model_1 phải là một mô hình Keras, hiện là {type(model_1).__name__} / model_1 must be a Keras model, got {type(model_1).__name__}'
    assert tuple(model_1.inputs[0].shape) == (None, 784), 'model_1 nhận vector 784 chiều / model_1 takes 784-vectors'
    assert tuple(model_1.outputs[0].shape) == (None, 10), 'model_1 có 10 đầu ra / model_1 has 10 outputs'
    THRESHOLD = 0.82
    try:
        acc = float(np.mean(np.argmax(model_1(np.asarray(X_test, dtype='float32'), training=False), axis=-1) == np.asarray(y_test).reshape(-1)))
    except Exception as e:
        raise AssertionError(f"Không tính được độ chính xác của model_1 trên X_test: {type(e).__name__}: {e} / Could not compute model_1's accuracy on X_test: {type(e).__name__}: {e}") from None
    print(f'model_1: độ chính xác trên tập test / test accuracy {acc:.4f}, ngưỡng / threshold {THRESHOLD}')
    assert acc >= THRESHOLD, f'model_1 đạt {acc:.4f} trên tập test, cần ít nhất {THRESHOLD} / model_1 scores {acc:.4f} on the test set; it needs at least {THRESHOLD}'

