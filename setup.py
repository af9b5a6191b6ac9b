"""Build the compiled hot path.  Metadata lives in pyproject.toml.

The build fails loudly when `_fastcalc` cannot be compiled: streamproc never
ships without its compiled engine (the worker refuses to start without it).
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "streamproc._fastcalc",
        ["src/streamproc/_fastcalc.pyx"],
        extra_compile_args=["-O3"] if os.name != "nt" else [],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
