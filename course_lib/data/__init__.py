"""Datasets: one module per family (2-D toys, digits, text, time series, downloads)."""

from course_lib.data.digits import BINARY_THRESHOLD, NUM_LEVELS, NUM_PIXELS, DigitsSplit, load_digits_split
from course_lib.data.toys import (
    TOYS,
    make_checkerboard,
    make_eight_gaussians,
    make_rings,
    make_spirals,
    make_two_moons,
)

__all__ = [
    "BINARY_THRESHOLD",
    "NUM_LEVELS",
    "NUM_PIXELS",
    "TOYS",
    "DigitsSplit",
    "load_digits_split",
    "make_checkerboard",
    "make_eight_gaussians",
    "make_rings",
    "make_spirals",
    "make_two_moons",
]
