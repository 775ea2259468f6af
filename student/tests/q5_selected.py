from otter.test_files import test_case

OK_FORMAT = False

name = "q5_selected"
points = None

@test_case(points=0, hidden=False)
def test_q5_selected_format(selected_labels):
    import numpy as np
    assert np.shape(selected_labels) == (3,), 'selected_labels có 3 phần tử / selected_labels has 3 entries'

