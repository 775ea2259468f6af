from otter.test_files import test_case

OK_FORMAT = False

name = "q2_one_hot"
points = None

@test_case(points=0, hidden=False)
def test_q2_one_hot_format(y_train, y_train_5):
    import numpy as np
    for _name, _value in (('y_train', y_train), ('y_train_5', y_train_5)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert np.shape(y_train) == (60000, 10), f'y_train phải là one-hot (60000, 10), hiện là {np.shape(y_train)} / y_train must be one-hot (60000, 10), got {np.shape(y_train)}'
    assert np.shape(y_train_5) == (10,), 'y_train_5 là một vector 10 phần tử / y_train_5 is a vector of 10 entries'

