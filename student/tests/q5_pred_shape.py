from otter.test_files import test_case

OK_FORMAT = False

name = "q5_pred_shape"
points = None

@test_case(points=0, hidden=False)
def test_q5_pred_shape_format(pred_shape):
    for _name, _value in (('pred_shape', pred_shape),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(pred_shape, (tuple, list)) and len(pred_shape) == 2, 'pred_shape là một tuple (a, b) / pred_shape is a tuple (a, b)'

