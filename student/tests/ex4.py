from otter.test_files import test_case

OK_FORMAT = False

name = "ex4"
points = None

@test_case(points=0, hidden=False)
def test_ex4_format(cm_ex4):
    import numpy as np
    assert np.shape(cm_ex4) == (10, 10), 'cm_ex4 là một ma trận 10×10 / cm_ex4 is a 10×10 matrix'

