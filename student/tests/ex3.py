from otter.test_files import test_case

OK_FORMAT = False

name = "ex3"
points = None

@test_case(points=0, hidden=False)
def test_ex3_format(X_train_new, X_test_new, model_2_new):
    import keras
    import numpy as np
    assert np.shape(X_train_new) == np.shape(X_train_new[:, :784]) and np.ndim(X_train_new) == 2, 'X_train_new là mảng 2 chiều (N, 784) / X_train_new is 2-D (N, 784)'
    assert float(np.max(X_train_new)) <= 1.0 and float(np.max(X_test_new)) <= 1.0, 'Sau khi chuẩn hóa, giá trị lớn nhất là 1 / After normalising, the largest value is 1'
    assert isinstance(model_2_new, keras.Model), 'model_2_new phải là một mô hình Keras / model_2_new must be a Keras model'

