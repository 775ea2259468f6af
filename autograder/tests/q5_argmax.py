from otter.test_files import test_case

OK_FORMAT = False

name = "q5_argmax"
points = None

@test_case(points=0, hidden=False)
def test_q5_argmax_format(chosen_class_prob):
    for _name, _value in (('chosen_class_prob', chosen_class_prob),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(chosen_class_prob, str) and chosen_class_prob.strip().lower() in ('highest', 'lowest'), 'chosen_class_prob là "highest" hoặc "lowest" / chosen_class_prob is "highest" or "lowest"'

@test_case(points=1, hidden=True)
def test_q5_argmax_value(chosen_class_prob):
    from ds201_lab1 import checks
    checks.q5_argmax(chosen_class_prob)

