"""gcsim: an agent-based simulator of gastric cancer and its immune microenvironment."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gcsim")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["GastricTumorModel", "__version__"]


def __getattr__(name: str):
    # Import the model lazily: `gcsim validate` should not pay for numba compilation.
    if name == "GastricTumorModel":
        from gcsim.model import GastricTumorModel

        return GastricTumorModel
    raise AttributeError(name)
