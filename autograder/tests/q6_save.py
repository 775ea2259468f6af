from otter.test_files import test_case

OK_FORMAT = False

name = "q6_save"
points = None

@test_case(points=0, hidden=False)
def test_q6_save_format(loaded_model):
    import keras
    import os
    for _name, _value in (('loaded_model', loaded_model),):
        assert _value is not None and _value is not ..., f'Chưa có biến `{_name}`: hãy điền và chạy ô trả lời ở trên. / `{_name}` is not defined yet: fill it in and run the answer cell above.'
    assert os.path.isfile('lab1_model.keras'), 'Chưa có tệp lab1_model.keras: gọi model.save(...) / No file lab1_model.keras yet: call model.save(...)'
    assert isinstance(loaded_model, keras.Model), 'loaded_model phải là mô hình nạp bằng keras.models.load_model / loaded_model must be the model loaded with keras.models.load_model'

@test_case(points=1, hidden=True)
def test_q6_save_value(model):
    from ds201_lab1 import checks
    checks.q6_save(model)

