"""The test suite runs against this repository's own tests and the installed photocull package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _fresh_python(code: str) -> str:
    """What ``code`` prints in a new interpreter: what it imports is then all its own."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HERE.parent)
    return out.stdout.strip()


def test_tests_package_is_the_repos_own():
    # tf-keras-vis installs a top-level ``tests`` package into site-packages; it must not shadow ours.
    conftest = sys.modules.get("tests.conftest") or sys.modules.get("conftest")
    assert conftest is not None and Path(conftest.__file__).resolve().parent == HERE
    pkg = sys.modules.get("tests")
    assert (
        pkg is None
        or not hasattr(pkg, "__file__")
        or pkg.__file__ is None
        or Path(pkg.__file__).resolve().parent == HERE
    )


def test_models_ship_with_the_package():
    from photocull.base.modelfiles import model_path

    for name in (
        "mobilenet_v2_imagenet.weights.h5",
        "imagenet_classes.json",
        "LICENSE-torchvision.txt",
        "mobilenet_v2.md",
        "happy_sad_head.keras",
        "happy_sad.json",
        "emotion_head.keras",
        "emotion.json",
    ):
        assert model_path(name).stat().st_size > 0


def test_a_scan_imports_no_scipy():
    """SciPy takes 0.3 s and 34 MB to import, with a core idle at the end of a scan: the pipeline, the
    decoding workers and regrouping never import it, unless a near-duplicate component needs complete
    linkage (here two identical frames and an unrelated photo: a clique)."""
    code = (
        "import sys, numpy as np, photocull.pipeline, photocull.scan.worker; "
        "from photocull.groups.cluster import group; "
        "assert group(np.array([0, 0, -1]), np.array([0, 0, -1]), np.array([0.0, 1.0, 99.0])) == [[0, 1]]; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'tensorflow', 'keras')))"
    )
    assert _fresh_python(code) == "[]"


def test_help_imports_no_heavy_library():
    """``photocull --help`` (and shell completion) must stay instant: no NumPy, SQLite layer, Pillow or TensorFlow."""
    code = (
        "import sys; from click.testing import CliRunner; from photocull.cli.main import cli; "
        "assert CliRunner().invoke(cli, ['--help']).exit_code == 0; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'sqlite_utils', 'PIL', 'tensorflow', 'scipy'}))"
    )
    assert _fresh_python(code) == "[]"


def test_the_console_script_imports_no_command_before_it_runs():
    """Each decoding process of a scan runs the console script again (``spawn`` re-runs the main
    script as ``__mp_main__``): the module the script imports must not import click, rich or the
    commands, or every decoding process pays for them before its first photo."""
    import configparser

    scripts = configparser.ConfigParser()
    scripts.read(HERE.parent / "setup.cfg")
    entry = scripts["options.entry_points"]["console_scripts"].strip()
    assert entry == "photocull = photocull.cli:main"
    code = (
        "import sys; from photocull.cli import main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'click', 'rich', 'numpy', 'sqlite_utils'}), "
        "'photocull.cli.main' in sys.modules)"
    )
    assert _fresh_python(code) == "[] False"
