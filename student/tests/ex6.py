from otter.test_files import test_case

OK_FORMAT = False

name = "ex6"
points = None

@test_case(points=0, hidden=False)
def test_ex6_format(model_3):
    import keras
    assert isinstance(model_3, keras.Sequential), 'model_3 phải là một keras.Sequential / model_3 must be a keras.Sequential'
    assert tuple(model_3.inputs[0].shape) == (None, 784), 'model_3 nhận vector 784 chiều / model_3 takes 784-vectors'

