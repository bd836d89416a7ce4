"""`python -m photocull`: the same command as `photocull`."""

from photocull.cli import main

main()
