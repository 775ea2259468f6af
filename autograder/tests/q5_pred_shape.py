from otter.test_files import test_case

OK_FORMAT = False

name = "q5_pred_shape"
points = None

@test_case(points=0, hidden=False)
def test_q5_pred_shape_format(pred_shape):
    assert isinstance(pred_shape, tuple) and len(pred_shape) == 2, 'pred_shape là một tuple (a, b) / pred_shape is a tuple (a, b)'

@test_case(points=1, hidden=True)
def test_q5_pred_shape_value(pred_shape):
    from ds201_lab1 import checks
    checks.q5_pred_shape(pred_shape)

