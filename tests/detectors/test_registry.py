"""The detector registry: names, parameters, lazy registration, errors that list the valid choices."""

import pytest

import detectors
from core.detector import DetectionResult, Detector, DetectorError
from fluxev import FluxEV


def test_fluxev_is_registered_and_built_with_parameters():
    assert "fluxev" in detectors.available()
    detector = detectors.make_detector("fluxev", s=3, smoothing=1)
    assert isinstance(detector, FluxEV) and detector.get_params()["s"] == 3
    assert repr(detector) == "FluxEV(s=3, smoothing=1)"
    assert detectors.name_of(detector) == "fluxev"


def test_unknown_names_and_parameters_list_the_valid_ones():
    with pytest.raises(DetectorError, match=r"unknown detector 'fluxe' \(did you mean 'fluxev'\?\); registered: "):
        detectors.make_detector("fluxe")
    with pytest.raises(DetectorError, match=r"FluxEV: unknown parameter 'smoothin' \(did you mean 'smoothing'\?\)"):
        detectors.make_detector("fluxev", smoothin=1)
    with pytest.raises(DetectorError, match="q: must be in"):
        detectors.make_detector("fluxev", q=-5)


def test_make_detector_copies_an_instance_with_overrides():
    original = FluxEV(s=4)
    copy = detectors.make_detector(original, q=0.01)
    assert copy is not original and copy.get_params()["s"] == 4 and copy.get_params()["q"] == 0.01
    assert original.q == 0.003


class Constant(Detector):
    def __init__(self, value=1.0):
        self.value = value

    def fit(self, train):
        self.n_ = len(train)
        return self

    def detect(self, test):
        n = len(test)
        return DetectionResult([self.value] * n, [2.0] * n, [False] * n)


def test_register_a_new_detector_and_lazily():
    detectors.register("constant-test", replace=True)(Constant)
    try:
        assert isinstance(detectors.make_detector("constant-test", value=3.0), Constant)
        with pytest.raises(DetectorError, match="already registered"):
            detectors.register("constant-test")(FluxEV)
    finally:
        detectors.DETECTORS.pop("constant-test")
    detectors.register_lazy("lazy-fluxev-test", "fluxev:FluxEV")
    try:
        assert "lazy-fluxev-test" in detectors.available()
        assert detectors.detector_class("lazy-fluxev-test") is FluxEV
    finally:
        detectors.LAZY.pop("lazy-fluxev-test")
        detectors.DETECTORS.pop("lazy-fluxev-test")
    with pytest.raises(DetectorError, match="module:Class"):
        detectors.register_lazy("bad", "no-colon")
