import pytest

from course_lib.check import ch00
from course_lib.check.testing import assert_exercise_behaves, exercises_of


@pytest.mark.parametrize("exercise", exercises_of(ch00), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise)
