from otter.test_files import test_case

OK_FORMAT = False

name = "q2_labels"
points = None

@test_case(points=0, hidden=False)
def test_q2_labels_format(n_labels, label_set):
    import numpy as np
    assert isinstance(n_labels, (int, np.integer)), 'n_labels phải là số nguyên / n_labels must be an integer'
    assert isinstance(label_set, set), 'label_set phải là một set: dùng set(...) / label_set must be a set: use set(...)'

@test_case(points=1, hidden=True)
def test_q2_labels_value(n_labels, label_set):
    from ds201_lab1 import checks
    checks.q2_labels(n_labels, label_set)

