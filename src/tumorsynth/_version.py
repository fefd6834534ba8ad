"""The version of tumorsynth (kept in step with ``pyproject.toml``; ``tumorsynth.__version__``)."""

__version__ = "0.5.0"
