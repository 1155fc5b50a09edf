"""`python -m autorecipe`: the same command line as the `autorecipe` script."""

from autorecipe.cli import main

main(prog_name="autorecipe")
