from otter.test_files import test_case

OK_FORMAT = False

name = "q3_prob_sum"
points = None

@test_case(points=0, hidden=False)
def test_q3_prob_sum_format(prob_sum):
    import numpy as np
    for _name, _value in (('prob_sum', prob_sum),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(prob_sum, (int, float, np.number)) and (not isinstance(prob_sum, bool)), 'prob_sum phải là một số / prob_sum must be a number'

