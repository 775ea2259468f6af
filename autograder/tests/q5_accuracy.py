from otter.test_files import test_case

OK_FORMAT = False

name = "q5_accuracy"
points = None

@test_case(points=0, hidden=False)
def test_q5_accuracy_format(accuracy):
    import numpy as np
    assert isinstance(accuracy, (float, np.floating)), 'accuracy phải là số thực / accuracy must be a float'
    assert 0 <= accuracy <= 1, 'accuracy là tỉ lệ trong [0, 1], không phải phần trăm / accuracy is a fraction in [0, 1], not a percentage'

@test_case(points=2, hidden=True)
def test_q5_accuracy_value(accuracy, model):
    from ds201_lab1 import checks
    checks.q5_accuracy(accuracy, model)

