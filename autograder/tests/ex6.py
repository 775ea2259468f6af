from otter.test_files import test_case

OK_FORMAT = False

name = "ex6"
points = None

@test_case(points=0, hidden=False)
def test_ex6_format(model_3, X_test_new, y_test):
    import keras
    import numpy as np
    for _name, _value in (('model_3', model_3), ('X_test_new', X_test_new), ('y_test', y_test)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(model_3, keras.Sequential), f'model_3 phải là một keras.Sequential, hiện là {type(model_3).__name__} / model_3 must be a keras.Sequential, got {type(model_3).__name__}'
    assert tuple(model_3.inputs[0].shape) == (None, 784), 'model_3 nhận vector 784 chiều / model_3 takes 784-vectors'
    kinds = [type(layer).__name__ for layer in model_3.layers]
    assert all((k in ('Dense', 'Dropout', 'Activation') for k in kinds)), f'model_3 có các lớp {kinds}: chỉ dùng Dense và Dropout / model_3 has layers {kinds}: use only Dense and Dropout'
    assert kinds.count('Dense') >= 3, 'model_3 cần ít nhất hai lớp Dense ẩn và một lớp Dense đầu ra / model_3 needs at least two hidden Dense layers and a Dense output layer'
    THRESHOLD = 0.95
    try:
        acc = float(np.mean(np.argmax(model_3(np.asarray(X_test_new, dtype='float32'), training=False), axis=-1) == np.asarray(y_test).reshape(-1)))
    except Exception as e:
        raise AssertionError(f"Không tính được độ chính xác của model_3 trên X_test_new: {type(e).__name__}: {e} / Could not compute model_3's accuracy on X_test_new: {type(e).__name__}: {e}") from None
    print(f'model_3: độ chính xác trên tập test / test accuracy {acc:.4f}, ngưỡng / threshold {THRESHOLD}')
    assert acc >= THRESHOLD, f'model_3 đạt {acc:.4f} trên tập test, cần ít nhất {THRESHOLD} / model_3 scores {acc:.4f} on the test set; it needs at least {THRESHOLD}'

@test_case(points=1, hidden=True)
def test_ex6_spec(model_3):
    from ds201_lab1 import checks
    checks.ex6_spec(model_3)

@test_case(points=2, hidden=True)
def test_ex6_accuracy(model_3):
    from ds201_lab1 import checks
    checks.ex6_accuracy(model_3)

