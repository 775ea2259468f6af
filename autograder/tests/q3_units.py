from otter.test_files import test_case

OK_FORMAT = False

name = "q3_units"
points = None

@test_case(points=0, hidden=False)
def test_q3_units_format(output_units_reason):
    for _name, _value in (('output_units_reason', output_units_reason),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(output_units_reason, str) and output_units_reason.strip().lower() in ('a', 'b', 'c'), 'output_units_reason là "a", "b" hoặc "c" / output_units_reason is "a", "b" or "c"'

@test_case(points=1, hidden=True)
def test_q3_units_value(output_units_reason):
    from ds201_lab1 import checks
    checks.q3_units(output_units_reason)

