"""The command's skeleton: --version, help without torch, list, errors as one line."""

import subprocess
import sys

from typer.testing import CliRunner

from traingen import __version__
from traingen.cli.main import app

runner = CliRunner()


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"traingen {__version__}"


def test_import_and_help_do_not_import_torch():
    code = (
        "import sys, traingen\n"
        "from traingen.cli.main import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'augment' in r.output\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_installed_command_version():
    import shutil

    exe = shutil.which("traingen") or str(__import__("pathlib").Path(sys.executable).parent / "traingen")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout


def test_list_prints_every_registry():
    res = runner.invoke(app, ["list", "--json"])
    assert res.exit_code == 0, res.output
    import json

    regs = json.loads(res.stdout)
    for name in ("augment", "augment.batch", "datasets", "formats"):
        assert name in regs, name
    assert "rotate" in regs["augment"] and "ricap" in regs["augment.batch"]
    assert "mnist5k" in regs["datasets"]
    res = runner.invoke(app, ["list", "nope"])
    assert res.exit_code != 0
