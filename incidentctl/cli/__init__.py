"""The command line: Typer modules that parse, call the library, print, and map errors to exit codes."""
