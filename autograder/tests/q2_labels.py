from otter.test_files import test_case

OK_FORMAT = False

name = "q2_labels"
points = None

@test_case(points=0, hidden=False)
def test_q2_labels_format(n_labels, label_set):
    import numpy as np
    for _name, _value in (('n_labels', n_labels), ('label_set', label_set)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(n_labels, (int, np.integer)) and (not isinstance(n_labels, bool)), 'n_labels phải là số nguyên / n_labels must be an integer'
    assert isinstance(label_set, (set, frozenset, list, tuple, np.ndarray)), f'label_set phải là một set: dùng set(...); hiện là {type(label_set).__name__} / label_set must be a set: use set(...); got {type(label_set).__name__}'
    assert len(set(np.asarray(list(label_set)).tolist())) == len(label_set), 'label_set có phần tử lặp lại: dùng set(...) / label_set repeats labels: use set(...)'

@test_case(points=1, hidden=True)
def test_q2_labels_value(n_labels, label_set):
    from ds201_lab1 import checks
    checks.q2_labels(n_labels, label_set)

