from chiffon.cli import main

main()
