from openwork.cli import main

main()
