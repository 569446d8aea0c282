"""`python -m runreplay.cli`."""

from runreplay.cli.main import main

main()
