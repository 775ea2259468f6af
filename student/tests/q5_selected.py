from otter.test_files import test_case

OK_FORMAT = False

name = "q5_selected"
points = None

@test_case(points=0, hidden=False)
def test_q5_selected_format(selected_labels):
    import numpy as np
    for _name, _value in (('selected_labels', selected_labels),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert np.shape(selected_labels) == (3,), 'selected_labels có 3 phần tử / selected_labels has 3 entries'
    assert np.issubdtype(np.asarray(selected_labels).dtype, np.integer), 'selected_labels chứa số nguyên / selected_labels holds integers'

