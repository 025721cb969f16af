"""What each ``abm-hetero`` command does, one module per command, each with ``run(args) -> int``.

:mod:`abm_hetero.cli` holds the parser and imports a command's module only when that command
runs, so that ``abm-hetero --help`` answers at once and rule-based runs never load torch; each
module here imports what its command needs at its top.
"""
