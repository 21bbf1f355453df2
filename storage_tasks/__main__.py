from storage_tasks.cli import main

main(prog_name="taptik-db")
