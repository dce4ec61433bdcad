"""Build gradcalc's optional compiled kernels; everything else is in pyproject.toml.

Every C file `core/ops/_NAME.c` becomes the extension module `gradcalc.core.ops._NAME`
(see core/ops/kernels.py), one C file per module. The headers `core/ops/_*.h` hold what
several kernels share (static inline helpers, so each module compiles its own copy); they
are no modules: every kernel depends on them (an edited header rebuilds the kernels) and
compiles with core/ops on its include path. pyproject.toml's package data ships them,
and the C sources, in the sdist (setuptools 68 leaves `depends` out of it).

The extensions are optional: where no C compiler is found the build says so and gradcalc
installs without them, running the same operations in NumPy (slower on large arrays, the
same numbers up to rounding order).
"""

import sys
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent
# -O3 lets gcc and clang vectorize the kernels' inner loops; MSVC takes its own flags.
FLAGS = [] if sys.platform == "win32" else ["-O3", "-std=c99"]

OPS = HERE / "core" / "ops"
HEADERS = [header.relative_to(HERE).as_posix() for header in sorted(OPS.glob("_*.h"))]

KERNELS = [
    Extension(
        f"gradcalc.core.ops.{source.stem}",
        [source.relative_to(HERE).as_posix()],
        depends=HEADERS,
        include_dirs=[OPS.relative_to(HERE).as_posix()],
        optional=True,
        extra_compile_args=FLAGS,
    )
    for source in sorted(OPS.glob("_*.c"))
]

setup(ext_modules=KERNELS)
