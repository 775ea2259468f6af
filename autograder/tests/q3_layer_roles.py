from otter.test_files import test_case

OK_FORMAT = False

name = "q3_layer_roles"
points = None

@test_case(points=0, hidden=False)
def test_q3_layer_roles_format(layer_roles):
    for _name, _value in (('layer_roles', layer_roles),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(layer_roles, (list, tuple)) and len(layer_roles) == 2, 'layer_roles là list hai chuỗi, theo thứ tự các lớp / layer_roles is a list of two strings, in the order of the layers'
    assert all((isinstance(r, str) for r in layer_roles)), 'Mỗi phần tử là một chuỗi / Each element is a string'

@test_case(points=1, hidden=True)
def test_q3_layer_roles_value(layer_roles):
    from ds201_lab1 import checks
    checks.q3_layer_roles(layer_roles)

