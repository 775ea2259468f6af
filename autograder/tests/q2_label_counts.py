from otter.test_files import test_case

OK_FORMAT = False

name = "q2_label_counts"
points = None

@test_case(points=0, hidden=False)
def test_q2_label_counts_format(label_counts):
    import numpy as np
    counts = np.asarray(label_counts)
    assert counts.shape == (10,), f'label_counts cần 10 phần tử, hiện có kích thước {counts.shape} / label_counts needs 10 entries, its shape is {counts.shape}'
    assert np.issubdtype(counts.dtype, np.integer), 'label_counts phải chứa số nguyên / label_counts must hold integers'

@test_case(points=1, hidden=True)
def test_q2_label_counts_value(label_counts):
    from ds201_lab1 import checks
    checks.q2_label_counts(label_counts)

