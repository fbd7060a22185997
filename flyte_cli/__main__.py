from flyte_cli import main

main()
