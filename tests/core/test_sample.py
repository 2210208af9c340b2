import numpy as np
import pytest

from traingen.core.errors import DataError, TargetError
from traingen.core.sample import Sample, check_boxes, check_image, check_keypoints, check_mask


def test_sample_targets_and_size():
    s = Sample(image=np.zeros((5, 7, 3), np.uint8), label=2)
    assert (s.height, s.width) == (5, 7)
    assert set(s.targets()) == {"image", "label"}


@pytest.mark.parametrize(
    "img, msg",
    [
        (np.zeros(5, np.uint8), "HxW"),
        (np.zeros((0, 5), np.uint8), "empty"),
        (np.zeros((4, 4, 0), np.uint8), "empty"),
        (np.zeros((4, 4), np.int64), "unsupported dtype"),
        (np.full((4, 4), np.nan, np.float32), "NaN"),
        ([[1, 2]], "numpy array"),
    ],
)
def test_check_image_errors(img, msg):
    with pytest.raises(DataError, match=msg):
        check_image(img, where="a.png")


def test_check_boxes():
    assert check_boxes([]).shape == (0, 4)
    with pytest.raises(TargetError, match="x1 < x0"):
        check_boxes([[10, 0, 5, 5]])
    with pytest.raises(TargetError, match="NaN"):
        check_boxes([[0, 0, np.nan, 5]])
    with pytest.raises(TargetError, match="Nx4"):
        check_boxes([[0, 0, 5]])
    with pytest.raises(TargetError, match="outside"):
        check_boxes([[0, 0, 50, 5]], (10, 10), inside=True)
    assert check_boxes([[0, 0, 10, 10]], (10, 10), inside=True).dtype == np.float32


def test_check_mask_and_keypoints():
    with pytest.raises(TargetError, match="does not match"):
        check_mask(np.zeros((3, 3), np.int32), (4, 4))
    with pytest.raises(TargetError, match="integers"):
        check_mask(np.zeros((4, 4), np.float32), (4, 4))
    with pytest.raises(TargetError, match="NaN"):
        check_keypoints([[np.inf, 1]])
    assert check_keypoints([[1, 2, 3]]).shape == (1, 2)


def test_errors_pickle_with_fields():
    import pickle

    e = TargetError("bad box", where="a.json", field="boxes")
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is TargetError and e2.where == "a.json" and e2.field == "boxes"
    assert str(e2) == str(e)
