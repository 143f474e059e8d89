"""The course as a static web site: the README's syllabus, the lectures with their stored outputs, the
exercise and solution notebooks and the guides in docs/, with a table of contents, built and read offline.

Usage::

    python -m course_lib.site build [--out DIR]   # default build/site; open DIR/index.html in a browser
    python -m course_lib.site check DIR           # broken internal links, missing anchors, network fetches

:mod:`~course_lib.site.pages` decides the pages and the navigation, :mod:`~course_lib.site.build` converts
them (nbconvert, no execution), :mod:`~course_lib.site.links` rewrites and checks their links.
"""
