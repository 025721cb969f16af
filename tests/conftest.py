import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def small_fcn():
    from abm_hetero import scenario

    return scenario("fcn", traders=50, ticks=200, seed=3)


@pytest.fixture
def cli_error(capsys):
    """Run the console command expecting failure; return its one-line error message."""
    from abm_hetero.cli import main

    def run(args: list[str]) -> str:
        try:
            rc = main(args)
        except SystemExit as exc:  # argparse reports usage errors by exiting
            rc = exc.code
        assert rc != 0
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
        return err

    return run
