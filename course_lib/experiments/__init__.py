"""Experiments that take longer than a lecture cell: each a module with a library function the notebook calls
for one row, and a command line that computes the whole table into ``experiments/results/``.

- ``gan_stabilisers``: every GAN stabiliser on the same 2-D task, budget and seeds (chapter 05);
- ``gan_digits``: the digits DCGAN and conditional DCGAN recipes, scored by FD / floor (chapter 05);
- ``sample_bank``: every sampling model of the course trained once, 1,000 samples per model and seed, for
  chapter 07 to score.
"""
