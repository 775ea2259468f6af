from otter.test_files import test_case

OK_FORMAT = False

name = "q2_reshape"
points = None

@test_case(points=0, hidden=False)
def test_q2_reshape_format(X_train, X_test, vector_dim, minus_one_means):
    import numpy as np
    assert X_train.ndim == 2 and X_test.ndim == 2, 'X_train, X_test phải là mảng 2 chiều sau reshape / X_train, X_test must be 2-D after the reshape'
    assert isinstance(vector_dim, (int, np.integer)), 'vector_dim phải là số nguyên / vector_dim must be an integer'
    assert minus_one_means in ('a', 'b', 'c'), 'minus_one_means là "a", "b" hoặc "c" / minus_one_means is "a", "b" or "c"'

