from otter.test_files import test_case

OK_FORMAT = False

name = "q3_params"
points = None

@test_case(points=0, hidden=False)
def test_q3_params_format(params_layer_1, params_layer_2, params_total):
    import numpy as np
    for _name, _value in (('params_layer_1', params_layer_1), ('params_layer_2', params_layer_2), ('params_total', params_total)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    for name, v in (('params_layer_1', params_layer_1), ('params_layer_2', params_layer_2), ('params_total', params_total)):
        assert isinstance(v, (int, np.integer)) and (not isinstance(v, bool)), f'{name} phải là số nguyên / {name} must be an integer'

@test_case(points=2, hidden=True)
def test_q3_params_value(params_layer_1, params_layer_2, params_total, model):
    from ds201_lab1 import checks
    checks.q3_params(params_layer_1, params_layer_2, params_total, model)

