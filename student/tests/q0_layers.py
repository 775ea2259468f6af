from otter.test_files import test_case

OK_FORMAT = False

name = "q0_layers"
points = None

@test_case(points=0, hidden=False)
def test_q0_layers_format(layer_kinds):
    for _name, _value in (('layer_kinds', layer_kinds),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(layer_kinds, (list, tuple, set)), f'layer_kinds phải là một list các chuỗi, hiện là {type(layer_kinds).__name__} / layer_kinds must be a list of strings, got {type(layer_kinds).__name__}'
    assert all((isinstance(k, str) for k in layer_kinds)), 'Mỗi phần tử là một chuỗi / Each element is a string'

