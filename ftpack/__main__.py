from ftpack.cli import main

main()
