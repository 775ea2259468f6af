from otter.test_files import test_case

OK_FORMAT = False

name = "q4_bce"
points = None

@test_case(points=0, hidden=False)
def test_q4_bce_format(bce_loss, bce_cost):
    import numpy as np
    for _name, _value in (('bce_loss', bce_loss), ('bce_cost', bce_cost)):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    y_hat, y = (np.array([0.9, 0.2]), np.array([1.0, 0.0]))
    assert callable(bce_loss) and callable(bce_cost), 'bce_loss và bce_cost phải là hàm / bce_loss and bce_cost must be functions'
    try:
        loss, cost = (bce_loss(y_hat.copy(), y.copy()), bce_cost(y_hat.copy(), y.copy()))
    except Exception as e:
        raise AssertionError(f'Hàm báo lỗi / The function raised {type(e).__name__}: {e}') from None
    assert loss is not None and np.shape(loss) == (2,), 'bce_loss trả về một giá trị cho mỗi mẫu / bce_loss returns one value per sample'
    assert cost is not None and np.size(cost) == 1, 'bce_cost trả về một số / bce_cost returns one number'

