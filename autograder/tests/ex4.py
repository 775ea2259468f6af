from otter.test_files import test_case

OK_FORMAT = False

name = "ex4"
points = None

@test_case(points=0, hidden=False)
def test_ex4_format(cm_ex4):
    import numpy as np
    for _name, _value in (('cm_ex4', cm_ex4),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert np.shape(cm_ex4) == (10, 10), 'cm_ex4 là một ma trận 10×10 / cm_ex4 is a 10×10 matrix'

@test_case(points=2, hidden=True)
def test_ex4_value(cm_ex4, model_2_new):
    from ds201_lab1 import checks
    checks.ex4_confusion(cm_ex4, model_2_new)

