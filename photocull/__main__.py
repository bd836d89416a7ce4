"""`python -m photocull`: the same command as `photocull`."""

from photocull.cli.main import main

main()
