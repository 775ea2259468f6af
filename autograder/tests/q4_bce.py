from otter.test_files import test_case

OK_FORMAT = False

name = "q4_bce"
points = None

@test_case(points=0, hidden=False)
def test_q4_bce_format(bce_loss, bce_cost):
    import numpy as np
    y_hat, y = (np.array([0.9, 0.2]), np.array([1.0, 0.0]))
    assert callable(bce_loss) and callable(bce_cost), 'bce_loss và bce_cost phải là hàm / bce_loss and bce_cost must be functions'
    assert np.shape(bce_loss(y_hat, y)) == (2,), 'bce_loss trả về một giá trị cho mỗi mẫu / bce_loss returns one value per sample'
    assert np.ndim(bce_cost(y_hat, y)) == 0, 'bce_cost trả về một số / bce_cost returns one number'

@test_case(points=2, hidden=True)
def test_q4_bce_value(bce_loss, bce_cost):
    from ds201_lab1 import checks
    checks.q4_bce(bce_loss, bce_cost)

