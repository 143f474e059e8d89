"""Experiments that take longer than a lecture cell: each a module with a library function the notebook calls
for one row, and a command line that computes the whole table into ``experiments/results/``.

- ``gan_stabilisers``: every GAN stabiliser on the same 2-D task, budget and seeds (chapter 05);
- ``gan_digits``: the digits DCGAN and conditional DCGAN recipes, scored by FD / floor (chapter 05).
"""
