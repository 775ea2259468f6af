from otter.test_files import test_case

OK_FORMAT = False

name = "q5_accuracy"
points = None

@test_case(points=0, hidden=False)
def test_q5_accuracy_format(accuracy):
    import numpy as np
    for _name, _value in (('accuracy', accuracy),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(accuracy, (float, np.floating)), 'accuracy phải là số thực / accuracy must be a float'
    assert 0 <= accuracy <= 1, 'accuracy là tỉ lệ trong [0, 1], không phải phần trăm / accuracy is a fraction in [0, 1], not a percentage'
    THRESHOLD = 0.94
    print(f'model: độ chính xác trên tập test / test accuracy {accuracy:.4f}, ngưỡng / threshold {THRESHOLD}')
    assert accuracy >= THRESHOLD, f'model đạt {accuracy:.4f}, cần ít nhất {THRESHOLD} / model scores {accuracy:.4f}; it needs at least {THRESHOLD}'

