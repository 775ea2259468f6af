from otter.test_files import test_case

OK_FORMAT = False

name = "q2_reshape"
points = None

@test_case(points=0, hidden=False)
def test_q2_reshape_format(X_train, X_test, vector_dim, minus_one_means):
    import numpy as np
    for _name, _value in (('X_train', X_train), ('X_test', X_test), ('vector_dim', vector_dim), ('minus_one_means', minus_one_means)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert np.ndim(X_train) == 2 and np.ndim(X_test) == 2, 'X_train, X_test phải là mảng 2 chiều sau reshape / X_train, X_test must be 2-D after the reshape'
    assert isinstance(vector_dim, (int, np.integer)) and (not isinstance(vector_dim, bool)), 'vector_dim phải là số nguyên / vector_dim must be an integer'
    assert isinstance(minus_one_means, str) and minus_one_means.strip().lower() in ('a', 'b', 'c'), 'minus_one_means là "a", "b" hoặc "c" / minus_one_means is "a", "b" or "c"'

@test_case(points=1, hidden=True)
def test_q2_reshape_value(X_train, X_test, vector_dim, minus_one_means):
    from ds201_lab1 import checks
    checks.q2_reshape(X_train, X_test, vector_dim, minus_one_means)

