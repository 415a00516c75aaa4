"""Sphinx configuration of the batchnb documentation (build: ``bash .ci/docs``).

Sphinx + pydata-sphinx-theme + myst-nb, the PyData/Jupyter convention: autodoc reads the numpydoc
docstrings (napoleon), myst-nb renders the example notebooks (executed at build time on a
private local Batch service), and ``_ext/batchnb_docs.py`` generates the ``%batch`` reference
from the magics' own argument definitions and fails the build on undocumented public names.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

import batchnb  # noqa: E402

project = "batchnb"
author = "batchnb contributors"
copyright = "batchnb contributors"  # noqa: A001 - Sphinx's name
release = version = batchnb.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_nb",
    "batchnb_docs",
]

exclude_patterns = ["_build", "_ext", "**.ipynb_checkpoints", "monitor.png", "pool_monitor.png"]
root_doc = "index"
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}

# --- warnings are errors (-W in .ci/docs): every cross-reference must resolve --------------------
nitpicky = True
# Types of other libraries (no intersphinx: the build must not need the network) and typing
# helpers autodoc writes out; everything of batchnb itself must resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(pd|pandas|np|numpy|azure|batch_models|dt|datetime|os|pathlib|concurrent|ipywidgets|"
               r"plotly|nbformat|collections|typing|abc|TokenCredential|BatchClient|InteractiveShell)(\..*)?"),
    (r"py:.*", r"(Path|Any|Callable|Iterable|Iterator|Mapping|Sequence|Self|TypeVar|InfoT|KW_ONLY|"
               r"ClassVar|BaseException|Exception|ValueError|LookupError|PermissionError|ConnectionError|"
               r"TimeoutError|AzureError|LocalService|BulkAddResult|UploadResult|UploadItem|ItemError|"
               r"RemoteItemError|SettingsError|JobMonitor|PoolMonitor|tqdm|BlobServiceClient|MapCache|Environment|FileTail)"),
    # Internal modules are named in prose but are not part of the reference.
    (r"py:(mod|func)", r"batchnb\.(core|data|views|node|local)\..*"),
    (r"py:class", r"batchnb\.core\.handle_base\..*"),
    (r"py:class", r"batchnb\.core\.specs\.environment\.Environment"),  # documented as batchnb.Environment
    (r"py:class", r"batchnb\.data\.watch\.FileTail"),  # the data layer is not part of the reference
    (r"py:.*", r"(str|int|float|bool|bytes|dict|list|tuple|set|range|object|type|None|optional)"),
    # numpydoc's plain-words types ("mapping of str to str", "iterable", "callable").
    (r"py:.*", r"(mapping|sequence|iterable|callable|timedelta|datetime|to)"),
]

# --- autodoc + napoleon (numpydoc style) -----------------------------------------------------------
# Type hints in the signatures; the numpydoc sections give the types in words (no duplicate
# "Return type" under "Returns").
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": True}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_preprocess_types = True  # numpydoc types: {"a", "b"} choices, "of", "or", "optional"
add_module_names = False
python_use_unqualified_type_names = True

# --- myst / myst-nb -------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# The local notebooks run at build time against a private local service (about 10 s each on a
# quiet machine). Shown as written: azure.ipynb (it needs a real account) and notebook-sweep.ipynb
# (nine papermill kernels on the nodes, and a notebook beside it that a temporary directory lacks;
# the test suite runs it). BATCHNB_DOCS_EXECUTE=0 skips execution for a quick look at the text.
nb_execution_mode = "force" if os.environ.get("BATCHNB_DOCS_EXECUTE", "1") != "0" else "off"
nb_execution_excludepatterns = ["examples/azure.ipynb", "examples/notebook-sweep.ipynb"]
nb_execution_in_temp = True  # what the notebooks write (data, downloads) stays out of the repository
nb_execution_timeout = 300
nb_execution_raise_on_error = True  # a notebook that fails fails the build
nb_execution_show_tb = True
# Static pages cannot run widgets: show the monitors' static HTML fallback instead of an empty
# widget view, and let plotly figures be drawn by the page's own plotly.js (see _ext).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_merge_streams = True
# myst-nb renders every mime type of an output before choosing one, and warns about plotly's JSON
# even when the figure's HTML (PLOTLY_RENDERER, set by _ext) is there and is what the page shows.
suppress_warnings = ["mystnb.unknown_mime_type"]

# --- HTML -----------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"batchnb {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
html_show_sourcelink = False
html_copy_source = False
