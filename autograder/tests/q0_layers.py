from otter.test_files import test_case

OK_FORMAT = False

name = "q0_layers"
points = None

@test_case(points=0, hidden=False, 
    failure_message="layer_kinds phải là một list các chuỗi / layer_kinds must be a list of strings")
def test_q0_layers_format(layer_kinds):
    assert isinstance(layer_kinds, (list, tuple)), 'layer_kinds phải là một list / layer_kinds must be a list'
    assert all((isinstance(k, str) for k in layer_kinds)), 'Mỗi phần tử là một chuỗi / Each element is a string'

@test_case(points=1, hidden=True, 
    failure_message="Câu hỏi 0 chưa đúng / Question 0 is not right")
def test_q0_layers_value(layer_kinds):
    from ds201_lab1 import checks
    checks.q0_layers(layer_kinds)

