from otter.test_files import test_case

OK_FORMAT = False

name = "q4_train_time"
points = None

@test_case(points=0, hidden=False)
def test_q4_train_time_format(train_time):
    import numpy as np
    assert isinstance(train_time, (int, float, np.number)), 'train_time phải là một số (giây) / train_time must be a number (seconds)'

