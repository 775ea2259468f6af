from otter.test_files import test_case

OK_FORMAT = False

name = "q5_argmax"
points = None

@test_case(points=0, hidden=False)
def test_q5_argmax_format(chosen_class_prob):
    assert chosen_class_prob in ('highest', 'lowest'), 'chosen_class_prob là "highest" hoặc "lowest" / chosen_class_prob is "highest" or "lowest"'

@test_case(points=1, hidden=True)
def test_q5_argmax_value(chosen_class_prob):
    from ds201_lab1 import checks
    checks.q5_argmax(chosen_class_prob)

