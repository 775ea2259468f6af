from otter.test_files import test_case

OK_FORMAT = False

name = "q3_output_shape"
points = None

@test_case(points=0, hidden=False)
def test_q3_output_shape_format(dense_output_shape):
    for _name, _value in (('dense_output_shape', dense_output_shape),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(dense_output_shape, (tuple, list)) and len(dense_output_shape) == 2, 'dense_output_shape là một tuple 2 phần tử / dense_output_shape is a tuple of 2 entries'

@test_case(points=1, hidden=True)
def test_q3_output_shape_value(dense_output_shape):
    from ds201_lab1 import checks
    checks.q3_output_shape(dense_output_shape)

