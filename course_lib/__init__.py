"""course_lib: the helper library of the hands-on course on deep generative models.

Datasets, reference models, one training loop, metrics, figures, widgets, exercise checks and the
instructor tools. Notebooks start with ``import course_lib; course_lib.seed_everything(0)``.
"""

from course_lib.config import FAST, budget, get_device, seed_everything, torch_threads
from course_lib.doctor import doctor

__version__ = "0.1.0"

__all__ = ["FAST", "budget", "doctor", "get_device", "seed_everything", "torch_threads", "__version__"]
