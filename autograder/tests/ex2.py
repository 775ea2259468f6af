from otter.test_files import test_case

OK_FORMAT = False

name = "ex2"
points = None

@test_case(points=0, hidden=False)
def test_ex2_format(model_2):
    import keras
    assert isinstance(model_2, keras.Model), 'model_2 phải là một mô hình Keras / model_2 must be a Keras model'
    assert tuple(model_2.inputs[0].shape) == (None, 784), 'model_2 nhận vector 784 chiều / model_2 takes 784-vectors'
    assert tuple(model_2.outputs[0].shape) == (None, 10), 'model_2 có 10 đầu ra / model_2 has 10 outputs'

@test_case(points=1, hidden=True)
def test_ex2_spec(model_2):
    from ds201_lab1 import checks
    checks.ex2_spec(model_2)

@test_case(points=2, hidden=True)
def test_ex2_accuracy(model_2):
    from ds201_lab1 import checks
    checks.ex2_accuracy(model_2)

