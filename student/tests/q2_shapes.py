from otter.test_files import test_case

OK_FORMAT = False

name = "q2_shapes"
points = None

@test_case(points=0, hidden=False)
def test_q2_shapes_format(n_train, n_test, train_test_ratio, image_size, n_pixels):
    import numpy as np
    for _name, _value in (('n_train', n_train), ('n_test', n_test), ('train_test_ratio', train_test_ratio), ('image_size', image_size), ('n_pixels', n_pixels)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    for name, v in (('n_train', n_train), ('n_test', n_test), ('n_pixels', n_pixels)):
        assert isinstance(v, (int, np.integer)) and (not isinstance(v, bool)), f'{name} phải là số nguyên, hiện là {type(v).__name__} / {name} must be an integer, got {type(v).__name__}'
    assert isinstance(train_test_ratio, (int, float, np.number)) and (not isinstance(train_test_ratio, bool)), 'train_test_ratio phải là một số / train_test_ratio must be a number'
    assert isinstance(image_size, (tuple, list)) and len(image_size) == 2, 'image_size phải là tuple (cao, rộng) / image_size must be a tuple (height, width)'

