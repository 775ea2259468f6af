from otter.test_files import test_case

OK_FORMAT = False

name = "q1_mnist_name"
points = None

@test_case(points=0, hidden=False)
def test_q1_format(mnist_stands_for):
    assert isinstance(mnist_stands_for, str), 'mnist_stands_for phải là một chuỗi / mnist_stands_for must be a string'
    assert len(mnist_stands_for.split()) > 1, 'Viết cụm từ đầy đủ, không viết tắt / Write the full name, not the acronym'

