"""consentaudit: prove what an image training set contains and whether the people in it agreed."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("consentaudit")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
