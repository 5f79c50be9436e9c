"""melib: micro-expression recognition — loaders, preprocessing, models and protocols for the MER study."""
import warnings

from tqdm import TqdmWarning

__version__ = "0.1.0"

# Without ipywidgets, tqdm.auto warns once per kernel; in a book page that is noise, not news.
warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
