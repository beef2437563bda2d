"""Build of the one compiled module of xmargin: the C twin of the FIXML reader's extractor.

Everything else is in pyproject.toml. The extension is optional: where no C compiler is at hand
the install still succeeds and the reader uses its pure-Python twin (and says so in its log).
"""

from __future__ import annotations

import lxml
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension(
                "pipeline.ingest._fixml_native",
                ["pipeline/ingest/_fixml_native.pyx"],
                # lxml's public C API and the libxml2 headers it was built with.
                include_dirs=lxml.get_include(),
                optional=True,
            )
        ],
        compiler_directives={"language_level": "3"},
    )
)
