from otter.test_files import test_case

OK_FORMAT = False

name = "q3_activations"
points = None

@test_case(points=0, hidden=False)
def test_q3_activations_format(sigmoid, tanh, relu):
    import numpy as np
    x = np.array([-1.0, 0.0, 2.0])
    for name, f in (('sigmoid', sigmoid), ('tanh', tanh), ('relu', relu)):
        assert callable(f), f'{name} phải là một hàm / {name} must be a function'
        out = f(x)
        assert isinstance(out, np.ndarray) and out.shape == x.shape, f'{name}(x) phải trả về mảng cùng kích thước với x / {name}(x) must return an array shaped like x'

