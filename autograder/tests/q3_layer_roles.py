from otter.test_files import test_case

OK_FORMAT = False

name = "q3_layer_roles"
points = None

@test_case(points=0, hidden=False)
def test_q3_layer_roles_format(layer_roles):
    assert isinstance(layer_roles, (list, tuple)) and len(layer_roles) == 2, 'layer_roles là list hai chuỗi / layer_roles is a list of two strings'
    assert all((isinstance(r, str) for r in layer_roles)), 'Mỗi phần tử là một chuỗi / Each element is a string'

@test_case(points=1, hidden=True)
def test_q3_layer_roles_value(layer_roles):
    from ds201_lab1 import checks
    checks.q3_layer_roles(layer_roles)

