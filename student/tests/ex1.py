from otter.test_files import test_case

OK_FORMAT = False

name = "ex1"
points = None

@test_case(points=0, hidden=False)
def test_ex1_format(model_1):
    import keras
    assert isinstance(model_1, keras.Model), 'model_1 phải là một mô hình Keras / model_1 must be a Keras model'
    assert tuple(model_1.inputs[0].shape) == (None, 784), 'model_1 nhận vector 784 chiều / model_1 takes 784-vectors'
    assert tuple(model_1.outputs[0].shape) == (None, 10), 'model_1 có 10 đầu ra / model_1 has 10 outputs'

