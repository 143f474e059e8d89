import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import data, plot  # noqa: E402
from course_lib.train import History  # noqa: E402


def test_image_grid_accepts_flat_and_square_digits():
    split = data.load_digits_split()
    ax = plot.image_grid(split.train[:10])
    assert ax.images and ax.images[0].get_array().shape == (3 * 9 + 1, 4 * 9 + 1)
    plot.image_grid(split.as_images(split.train[:5]).float(), nrow=5)
    with pytest.raises(ValueError, match="square"):
        plot.image_grid(torch.zeros(3, 10))
    plt.close("all")


def test_density_2d_and_scatter_draw_on_given_axes():
    fig, (a, b) = plt.subplots(1, 2)
    dist = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
    assert plot.density_2d(dist.log_prob, ax=a, resolution=20, data=torch.randn(10, 2)) is a
    assert plot.scatter_2d(data.make_two_moons(100), labels=torch.arange(100) % 2, ax=b) is b
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot.scatter_2d(torch.zeros(5, 3))
    plt.close(fig)


def test_training_curves_marks_the_best_epoch():
    history = History(train_loss=[3.0, 2.0, 1.0], val_loss=[3.5, 2.5, 2.7], best_epoch=1)
    ax = plot.training_curves(history)
    assert len(ax.lines) == 3
    plt.close("all")


def test_training_curves_places_validations_at_their_steps():
    # 4 epochs of 10 steps, validated every 20 steps: the validations belong at epochs 2 and 4, not 1 and 2
    history = History(train_loss=[4.0, 3.0, 2.0, 1.0], val_loss=[3.0, 2.5], val_steps=[20, 40], steps=40,
                      best_epoch=3, best_step=40)
    ax = plot.training_curves(history)
    train, val, best = ax.lines
    assert list(val.get_xdata()) == [2.0, 4.0]
    assert (best.get_xdata()[0], best.get_ydata()[0]) == (4.0, 2.5)
    plt.close("all")
