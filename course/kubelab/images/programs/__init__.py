"""The programs behind the catalogue's images.

Each runs as ``python -S -E -u <program>.py`` in a container, so each imports only the
standard library (and ``_container`` beside it) and starts in a few milliseconds.
"""
