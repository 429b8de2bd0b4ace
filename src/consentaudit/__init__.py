"""consentaudit: prove what an image training set contains and whether the people in it agreed."""

# The one place the version is written: pyproject.toml reads it (setuptools' dynamic `attr`), so start-up
# needs no importlib.metadata (~60 ms a process, paid by every CLI run and every worker).
__version__ = "0.2.0"

__all__ = ["__version__"]
