from otter.test_files import test_case

OK_FORMAT = False

name = "q2_one_hot"
points = None

@test_case(points=0, hidden=False)
def test_q2_one_hot_format(y_train, y_train_5):
    import numpy as np
    assert np.ndim(y_train) == 2, 'y_train phải là mảng 2 chiều (one-hot) / y_train must be 2-D (one-hot)'
    assert np.shape(y_train_5) == (10,), 'y_train_5 là một vector 10 phần tử / y_train_5 is a vector of 10 entries'

