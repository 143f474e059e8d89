"""Entries of the digits NLL ladder, one module per chapter (``ch02.py``, ``ch03.py``, ...).

Each module registers its models with :func:`course_lib.leaderboard.register`; the leaderboard imports
every module of this package, so a chapter adds rows without editing a shared list.
"""
