from otter.test_files import test_case

OK_FORMAT = False

name = "q5_image_50"
points = None

@test_case(points=0, hidden=False)
def test_q5_image_50_format(probs_50, pred_label_50, true_label_50):
    import numpy as np
    for _name, _value in (('probs_50', probs_50), ('pred_label_50', pred_label_50), ('true_label_50', true_label_50)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert np.shape(probs_50) == (10,), 'probs_50 là một vector 10 xác suất / probs_50 is a vector of 10 probabilities'
    assert (isinstance(pred_label_50, (int, np.integer)) and (not isinstance(pred_label_50, bool))) and (isinstance(true_label_50, (int, np.integer)) and (not isinstance(true_label_50, bool))), 'pred_label_50, true_label_50 phải là số nguyên / pred_label_50, true_label_50 must be integers'

