"""Target resolution against the real ImageNet class list and a digit label set."""

from __future__ import annotations

import numpy as np
import pytest

from steerlens.errors import TargetError
from steerlens.models.efficientnet import imagenet_class_names
from steerlens.targets import resolve_target

IMAGENET = imagenet_class_names()
DIGITS = [str(i) for i in range(10)]


@pytest.mark.parametrize("target", [285, "285", " 285 ", np.int64(285)])
def test_index_forms(target):
    assert resolve_target(target, IMAGENET) == 285


@pytest.mark.parametrize(
    "target, index",
    [
        ("Egyptian cat", 285),
        ("egyptian CAT", 285),
        ("egyptian_cat", 285),
        ("EgyptianCat", 285),
        ("tiger-cat", 282),
        ("military uniform", 652),
        ("Granny Smith", 948),
    ],
)
def test_names_case_and_separators(target, index):
    assert resolve_target(target, IMAGENET) == index


def test_exact_case_separates_the_two_cardigans():
    # ImageNet has "Cardigan" (the corgi, 264) and "cardigan" (the sweater, 474).
    assert resolve_target("Cardigan", IMAGENET) == 264
    assert resolve_target("cardigan", IMAGENET) == 474
    with pytest.raises(TargetError, match="several classes.*264.*474"):
        resolve_target("CARDIGAN", IMAGENET)


def test_digit_strings_are_names_and_indices():
    assert resolve_target("8", DIGITS) == 8
    assert resolve_target(3, DIGITS) == 3


@pytest.mark.parametrize("bad", [1000, -1, "1000", "-3"])
def test_index_out_of_range(bad):
    with pytest.raises(TargetError, match=r"out of range; this model has 1000 classes \(0-999\)"):
        resolve_target(bad, IMAGENET)


def test_near_miss_suggests_closest_names_on_one_line():
    with pytest.raises(TargetError) as info:
        resolve_target("egyptain cat", IMAGENET)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("unknown target class 'egyptain cat'; did you mean 'Egyptian cat' (285)")
    assert msg.count("(") <= 5


def test_substring_hits_are_suggested():
    with pytest.raises(TargetError) as info:
        resolve_target("retriever", IMAGENET)
    assert "'golden retriever' (207)" in str(info.value)
    assert "'Labrador retriever' (208)" in str(info.value)


def test_small_label_sets_list_every_name():
    with pytest.raises(TargetError, match=r"class names are '0' \(0\).*'8' \(8\), '9' \(9\)$"):
        resolve_target("eigth", DIGITS)


@pytest.mark.parametrize("bad", [True, 2.0, "", None])
def test_wrong_types(bad):
    with pytest.raises(TargetError):
        resolve_target(bad, DIGITS)
