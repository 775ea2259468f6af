from otter.test_files import test_case

OK_FORMAT = False

name = "q3_units"
points = None

@test_case(points=0, hidden=False)
def test_q3_units_format(output_units_reason):
    assert output_units_reason in ('a', 'b', 'c'), 'output_units_reason là "a", "b" hoặc "c" / output_units_reason is "a", "b" or "c"'

@test_case(points=1, hidden=True)
def test_q3_units_value(output_units_reason):
    from ds201_lab1 import checks
    checks.q3_units(output_units_reason)

