from photocull.cli.main import main

main()
