from otter.test_files import test_case

OK_FORMAT = False

name = "q2_fill_blanks"
points = None

@test_case(points=0, hidden=False)
def test_q2_fill_blanks_format(blank_1, blank_2, blank_3):
    import numpy as np
    for _name, _value in (('blank_1', blank_1), ('blank_2', blank_2), ('blank_3', blank_3)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert (isinstance(blank_1, (int, np.integer)) and (not isinstance(blank_1, bool))) and (isinstance(blank_2, (int, np.integer)) and (not isinstance(blank_2, bool))), 'blank_1, blank_2 phải là số nguyên / blank_1, blank_2 must be integers'
    assert isinstance(blank_3, str), 'blank_3 phải là một chuỗi / blank_3 must be a string'

@test_case(points=1, hidden=True)
def test_q2_fill_blanks_value(blank_1, blank_2, blank_3):
    from ds201_lab1 import checks
    checks.q2_fill_blanks(blank_1, blank_2, blank_3)

