from otter.test_files import test_case

OK_FORMAT = False

name = "q3_units"
points = None

@test_case(points=0, hidden=False)
def test_q3_units_format(output_units_reason):
    assert output_units_reason in ('a', 'b', 'c'), 'output_units_reason là "a", "b" hoặc "c" / output_units_reason is "a", "b" or "c"'

