from otter.test_files import test_case

OK_FORMAT = False

name = "q3_activations"
points = None

@test_case(points=0, hidden=False)
def test_q3_activations_format(sigmoid, tanh, relu):
    import numpy as np
    for _name, _value in (('sigmoid', sigmoid), ('tanh', tanh), ('relu', relu)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    x = np.array([-1.0, 0.0, 2.0])
    for name, f in (('sigmoid', sigmoid), ('tanh', tanh), ('relu', relu)):
        assert callable(f), f'{name} phải là một hàm / {name} must be a function'
        try:
            out = f(x.copy())
        except Exception as e:
            raise AssertionError(f'{name}(x) báo lỗi / {name}(x) raised {type(e).__name__}: {e}') from None
        assert np.shape(out) == x.shape and out is not None, f'{name}(x) phải trả về mảng cùng kích thước với x / {name}(x) must return an array shaped like x'

@test_case(points=1, hidden=True)
def test_q3_activations_value(sigmoid, tanh, relu):
    from ds201_lab1 import checks
    checks.q3_activations(sigmoid, tanh, relu)

