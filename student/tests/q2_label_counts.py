from otter.test_files import test_case

OK_FORMAT = False

name = "q2_label_counts"
points = None

@test_case(points=0, hidden=False)
def test_q2_label_counts_format(label_counts):
    import numpy as np
    for _name, _value in (('label_counts', label_counts),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    counts = label_counts
    if hasattr(counts, 'items'):
        by_label = dict(counts.items())
        assert all((isinstance(k, (int, np.integer)) for k in by_label)), 'Các khóa là nhãn số nguyên / The keys are integer labels'
        assert sorted((int(k) for k in by_label)) == list(range(10)), 'Cần đủ 10 nhãn 0–9 / All 10 labels 0–9 are needed'
        counts = [by_label[k] for k in sorted(by_label)]
    counts = np.asarray(counts)
    assert counts.shape == (10,), f'label_counts cần 10 phần tử, hiện có kích thước {counts.shape} / label_counts needs 10 entries, its shape is {counts.shape}'
    assert np.issubdtype(counts.dtype, np.integer), 'label_counts phải chứa số nguyên / label_counts must hold integers'

