from otter.test_files import test_case

OK_FORMAT = False

name = "q2_fill_blanks"
points = None

@test_case(points=0, hidden=False)
def test_q2_fill_blanks_format(blank_1, blank_2, blank_3):
    import numpy as np
    assert isinstance(blank_1, (int, np.integer)) and isinstance(blank_2, (int, np.integer)), 'blank_1, blank_2 phải là số nguyên / blank_1, blank_2 must be integers'
    assert isinstance(blank_3, str), 'blank_3 phải là một chuỗi / blank_3 must be a string'

