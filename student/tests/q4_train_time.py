from otter.test_files import test_case

OK_FORMAT = False

name = "q4_train_time"
points = None

@test_case(points=0, hidden=False)
def test_q4_train_time_format(train_time):
    import numpy as np
    for _name, _value in (('train_time', train_time),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(train_time, (int, float, np.number)) and (not isinstance(train_time, bool)), 'train_time phải là một số (giây) / train_time must be a number (seconds)'
    assert train_time > 0, 'train_time phải dương / train_time must be positive'

