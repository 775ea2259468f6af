from otter.test_files import test_case

OK_FORMAT = False

name = "q1_mnist_name"
points = None

@test_case(points=0, hidden=False)
def test_q1_format(mnist_stands_for):
    for _name, _value in (('mnist_stands_for', mnist_stands_for),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert isinstance(mnist_stands_for, str), f'mnist_stands_for phải là một chuỗi, hiện là {type(mnist_stands_for).__name__} / mnist_stands_for must be a string, got {type(mnist_stands_for).__name__}'
    assert len(mnist_stands_for.split()) > 1, 'Viết cụm từ đầy đủ, không viết tắt / Write the full name, not the acronym'

